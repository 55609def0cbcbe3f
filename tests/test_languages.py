"""A workspace's fixed language (`bot.languages`): kept by each store, read through a short
cache, set only by the workspace's own admins or the operator, and refused in plain words when
the bot does not speak it."""

from __future__ import annotations

import pytest

from bot.clock import ManualClock
from bot.errors import InvalidRequest
from bot.languages import CACHE_TTL_S, Languages, parse_language
from bot.models import Actor
from bot.ports import Store

OPERATOR = Actor.operator()


async def test_each_store_keeps_a_workspaces_language(any_store: Store) -> None:
    assert await any_store.workspace_locale("slack:T1") is None
    await any_store.set_workspace_locale("slack:T1", "de", now=1.0)
    await any_store.set_workspace_locale("slack:T1", "pt_BR", now=2.0)
    await any_store.set_workspace_locale("discord:9", "ja", now=3.0)
    assert await any_store.workspace_locale("slack:T1") == "pt_BR"
    assert await any_store.workspace_locale("discord:9") == "ja"
    await any_store.set_workspace_locale("slack:T1", None, now=4.0)
    await any_store.set_workspace_locale("slack:T2", None, now=5.0)  # nothing to forget
    assert await any_store.workspace_locale("slack:T1") is None
    assert await any_store.workspace_locale("discord:9") == "ja"


async def test_a_fixed_language_wins_over_each_persons_and_is_read_through_a_cache(
    any_store: Store,
) -> None:
    clock = ManualClock(1000.0)
    here, elsewhere = Languages(any_store, clock), Languages(any_store, clock)
    assert await here.for_person("slack:T1", "es-ES") == "es"
    assert await here.for_person("slack:T1", "zh-CN") == "en"
    assert await here.set(OPERATOR, "slack:T1", "de-AT") == "de"
    assert await here.for_person("slack:T1", "es-ES") == "de"  # seen at once where it was set
    assert await elsewhere.for_person("slack:T1", "es-ES") == "de"

    assert await here.set(OPERATOR, "slack:T1", "off") is None
    assert await here.for_person("slack:T1", "es-ES") == "es"
    # Another process read "de" a moment ago: it keeps it until its cache ages out.
    assert await elsewhere.fixed("slack:T1") == "de"
    clock.advance(CACHE_TTL_S)
    assert await elsewhere.fixed("slack:T1") is None


async def test_only_the_workspaces_own_admins_or_the_operator_fix_its_language(
    any_store: Store,
) -> None:
    languages = Languages(any_store, ManualClock(0.0))
    admin = Actor.workspace_admin("discord:1:7", "discord:1")
    assert await languages.set(admin, "discord:1", "fr") == "fr"
    with pytest.raises(InvalidRequest, match="your own workspace"):
        await languages.set(admin, "discord:2", "fr")
    assert await any_store.workspace_locale("discord:2") is None


@pytest.mark.parametrize(
    ("typed", "fixed"),
    [("de", "de"), ("pt-BR", "pt_BR"), ("JA", "ja"), (" es ", "es"), ("off", None), ("OFF", None)],
)
def test_a_language_is_read_as_people_type_it(typed: str, fixed: str | None) -> None:
    assert parse_language(typed) == fixed


@pytest.mark.parametrize("typed", ["klingon", "zh-CN", "", "de;DROP"])
def test_a_language_the_bot_does_not_speak_is_refused_naming_those_it_does(typed: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_language(typed)
    assert "de, en, es, fr, ja, pt_BR" in refused.value.user_message
