"""What admins steer: overrides, day resets, blocks, banned words, the usage report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.admin import AdminActions, Blocked, LimitsCleared, Subject, TermAllowed, Unblocked
from bot.clock import ManualClock
from bot.errors import InvalidRequest, QuotaExceeded, UserFacingError
from bot.jobs import JobService
from bot.models import (
    Actor,
    Authority,
    GenerationRequest,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.moderation import REFUSAL
from storage.sqlite import SqliteStore
from tests.support import RecordingSurface, ScriptedProvider, make_service, origin

EIGHT = GenerationRequest(prompt="a lighthouse", duration_s=8)
OPERATOR = Actor.operator()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def service(store: SqliteStore, tmp_path: Path) -> JobService:
    return make_service(
        store,
        tmp_path,
        providers={"scripted": ScriptedProvider()},
        surfaces={"chat": RecordingSurface()},
        limits=QuotaLimits(16, 100, 0),
        clock=ManualClock(NOW),
    )


@pytest.fixture
def admin(service: JobService) -> AdminActions:
    return AdminActions(service.store, defaults=service.config.limits, clock=service.clock)


def user(key: str) -> Subject:
    return Subject.user(key)


def workspace(key: str) -> Subject:
    return Subject.workspace(key)


async def fill(service: JobService, user: str = "u1", workspace: str = "w1") -> int:
    """Submit 8 s jobs until refused; how many went through."""
    count = 0
    while True:
        try:
            await service.submit(EIGHT, origin(user=user, workspace=workspace))
        except QuotaExceeded:
            return count
        count += 1


async def test_user_overrides_beat_workspace_overrides_beat_defaults(
    service: JobService, admin: AdminActions
) -> None:
    await admin.set_limits(OPERATOR, workspace("chat:w1"), daily_s=32)
    await admin.set_limits(OPERATOR, user("chat:w1:vip"), daily_s=48)
    assert await fill(service, "someone") == 4
    assert await fill(service, "vip") == 6
    assert await fill(service, "other", workspace="w2") == 2  # defaults elsewhere

    assert await admin.clear_limits(OPERATOR, user("chat:w1:vip")) == LimitsCleared(
        user("chat:w1:vip"), Authority.OPERATOR
    )
    report = await service.quota_report(origin(user="vip"))
    assert (report.daily_limit_s, report.used_today_s) == (32, 48)


async def test_a_workspace_monthly_override_caps_the_workspace(
    service: JobService, admin: AdminActions
) -> None:
    await admin.set_limits(OPERATOR, workspace("chat:w1"), monthly_s=20)
    assert await fill(service, "a") == 2
    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(EIGHT, origin(user="b"))
    assert refused.value.limit == "workspace_monthly"


async def test_bad_limits_are_refused(service: JobService, admin: AdminActions) -> None:
    with pytest.raises(InvalidRequest, match="daily must be a number from 0 to 1,000,000"):
        await admin.set_limits(OPERATOR, user("chat:w1:u1"), daily_s=-1)
    with pytest.raises(InvalidRequest, match="belongs to a workspace"):
        await admin.set_limits(OPERATOR, user("chat:w1:u1"), monthly_s=10)
    with pytest.raises(InvalidRequest, match="at least one limit"):
        await admin.set_limits(OPERATOR, workspace("chat:w1"))


async def test_resetting_a_users_day_gives_the_day_back(
    service: JobService, admin: AdminActions
) -> None:
    assert await fill(service) == 2
    await admin.reset_day(OPERATOR, "chat:w1:u1")
    assert (await service.quota_report(origin())).used_today_s == 0
    clock = service.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    assert await fill(service) == 2


async def test_a_blocked_user_is_refused_plainly_and_charged_nothing(
    service: JobService, admin: AdminActions, store: SqliteStore
) -> None:
    assert await admin.set_blocked("chat:w1:u1", True) == Blocked("chat:w1:u1")
    with pytest.raises(UserFacingError) as refused:
        await service.submit(EIGHT, origin())
    assert refused.value.code == "blocked"
    assert await store.ledger() == []
    assert await admin.set_blocked("chat:w1:u1", False) == Unblocked("chat:w1:u1")
    await service.submit(EIGHT, origin())


@pytest.mark.parametrize(
    ("term", "prompt", "refused"),
    [
        ("gore", "so much Gore!", True),
        ("gore", "a gorey tale", False),
        ("gore", "Al Gore", True),
        ("red wedding", "the Red   Wedding scene", True),
        ("red wedding", "a red dress at a wedding", False),
        ("re:kill(s|ed)?", "he KILLED it", True),
        ("re:kill(s|ed)?", "skills", True),  # a pattern is the admin's own regular expression
    ],
)
async def test_banned_terms_match_case_insensitively_on_word_boundaries(
    service: JobService,
    admin: AdminActions,
    store: SqliteStore,
    term: str,
    prompt: str,
    refused: bool,
) -> None:
    await admin.set_banned("chat:w1", term, True)
    request = GenerationRequest(prompt=prompt, duration_s=8)
    if refused:
        with pytest.raises(UserFacingError) as caught:
            await service.submit(request, origin())
        assert caught.value.user_message == REFUSAL
        word = term.rsplit(":", maxsplit=1)[-1].split(maxsplit=1)[0].lower()
        assert word not in caught.value.user_message.lower()
        assert await store.ledger() == []
    else:
        await service.submit(request, origin())
    await service.submit(request, origin(workspace="w2"))  # other workspaces are unaffected


async def test_the_negative_prompt_is_checked_too_and_bad_patterns_are_refused(
    service: JobService,
    admin: AdminActions,
) -> None:
    await admin.set_banned("chat:w1", "blood", True)
    with pytest.raises(UserFacingError, match="does not allow"):
        await service.submit(EIGHT.model_copy(update={"negative_prompt": "no blood"}), origin())
    with pytest.raises(InvalidRequest, match="not a valid regular expression"):
        await admin.set_banned("chat:w1", "re:(unclosed", True)
    assert await admin.set_banned("chat:w1", "blood", False) == TermAllowed("chat:w1", "blood")
    await service.submit(EIGHT.model_copy(update={"negative_prompt": "no blood"}), origin())


async def test_the_usage_report_matches_the_ledger(
    service: JobService, admin: AdminActions, store: SqliteStore
) -> None:
    kept = await service.submit(EIGHT, origin(user="a"))
    failed = await service.submit(EIGHT.model_copy(update={"duration_s": 4}), origin(user="a"))
    await service.submit(EIGHT, origin(user="b"))
    await service.advance(kept)
    submitted = await store.get_job(kept.id)
    assert submitted is not None
    await service.apply_status(submitted, ProviderStatus(ProviderJobState.SUCCEEDED, video_url="m"))
    await service.advance(failed)
    failing = await store.get_job(failed.id)
    assert failing is not None
    await service.apply_status(failing, ProviderStatus(ProviderJobState.FAILED))
    done = await store.get_job(kept.id)
    assert done is not None and done.state is JobState.DELIVERED

    rows = (await admin.usage(workspace_key="chat:w1")).rows
    assert [(r.user_key, r.jobs, r.settled_s, r.reserved_s, r.refunded_jobs) for r in rows] == [
        ("chat:w1:a", 2, 8, 0, 1),
        ("chat:w1:b", 1, 0, 8, 0),
    ]
    ledger = await store.ledger()
    assert sum(r.settled_s + r.reserved_s for r in rows) == sum(
        row["seconds"] for row in ledger if row["status"] != "refunded"
    )
    assert (await admin.usage(month="2026-10")).rows == ()


# --- who is asking: the operator, or a workspace admin inside the operator's caps -----------

ADMIN = Actor.workspace_admin("chat:w1:mod", "chat:w1")


async def test_a_workspace_admin_lowers_and_shares_out_limits_inside_the_operators_caps(
    service: JobService,
    admin: AdminActions,
) -> None:
    # The operator's caps here are the defaults: 16 s a day, 100 at a time, unlimited month.
    await admin.set_limits(ADMIN, workspace("chat:w1"), daily_s=8)
    await admin.set_limits(ADMIN, user("chat:w1:vip"), daily_s=16)  # up to the cap: fine
    assert await fill(service, "someone") == 1
    assert await fill(service, "vip") == 2
    with pytest.raises(InvalidRequest, match="up to 16 s a day here"):
        await admin.set_limits(ADMIN, user("chat:w1:vip"), daily_s=24)
    with pytest.raises(InvalidRequest, match="up to 100 at a time here"):
        await admin.set_limits(ADMIN, workspace("chat:w1"), concurrent=101)

    # The operator raises one person; the admin may then give them up to that, no more.
    await admin.set_limits(OPERATOR, user("chat:w1:vip"), daily_s=40)
    await admin.set_limits(ADMIN, user("chat:w1:vip"), daily_s=24)
    assert (await service.quota_report(origin(user="vip"))).daily_limit_s == 24
    # The operator lowers the cap under the admin's number: the tighter one applies.
    await admin.set_limits(OPERATOR, user("chat:w1:vip"), daily_s=8)
    assert (await service.quota_report(origin(user="vip"))).daily_limit_s == 8

    # An admin clears their own rows only; the operator clears everyone's.
    assert await admin.clear_limits(ADMIN, user("chat:w1:vip")) == LimitsCleared(
        user("chat:w1:vip"), Authority.WORKSPACE_ADMIN
    )
    assert (await service.quota_report(origin(user="vip"))).daily_limit_s == 8
    await admin.set_limits(ADMIN, user("chat:w1:vip"), daily_s=4)
    assert await admin.clear_limits(OPERATOR, user("chat:w1:vip")) == LimitsCleared(
        user("chat:w1:vip"), Authority.OPERATOR
    )
    assert (await service.quota_report(origin(user="vip"))).daily_limit_s == 8  # the admin's 8


async def test_a_workspace_admin_cannot_make_a_capped_month_unlimited(
    service: JobService, admin: AdminActions, store: SqliteStore
) -> None:
    await admin.set_limits(OPERATOR, workspace("chat:w1"), monthly_s=600)
    with pytest.raises(InvalidRequest, match="monthly 0 means unlimited"):
        await admin.set_limits(ADMIN, workspace("chat:w1"), monthly_s=0)
    with pytest.raises(InvalidRequest, match="up to 600 s here"):
        await admin.set_limits(ADMIN, workspace("chat:w1"), monthly_s=601)
    assert [row.set_by for row in await store.overrides()] == ["operator"]
    await admin.set_limits(ADMIN, workspace("chat:w1"), monthly_s=300)
    assert (await service.quota_report(origin())).workspace_monthly_limit_s == 300
    # Where the operator left the month unlimited, an admin may cap it or leave it so.
    elsewhere = Actor.workspace_admin("chat:w2:mod", "chat:w2")
    await admin.set_limits(elsewhere, workspace("chat:w2"), monthly_s=0)
    await admin.set_limits(elsewhere, workspace("chat:w2"), monthly_s=50)
    assert (await service.quota_report(origin(workspace="w2"))).workspace_monthly_limit_s == 50


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"daily_s": float("nan")}, "daily must be a number from 0 to 1,000,000 seconds, not nan"),
        ({"daily_s": float("inf")}, "daily must be a number from 0 to 1,000,000 seconds, not inf"),
        ({"daily_s": 1e9}, "daily must be a number from 0 to 1,000,000 seconds, not 1e+09"),
        ({"monthly_s": -1.0}, "monthly must be a number from 0 to 1,000,000 seconds, not -1"),
        ({"concurrent": 10**6}, "concurrent must be a number from 0 to 1,000 videos at a time"),
    ],
)
async def test_limits_that_are_not_sane_numbers_are_refused_even_to_the_operator(
    service: JobService,
    admin: AdminActions,
    store: SqliteStore,
    limits: dict[str, float],
    message: str,
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        await admin.set_limits(OPERATOR, workspace("chat:w1"), **limits)  # type: ignore[arg-type]
    assert await store.overrides() == []


async def test_nobody_resets_their_own_day_but_the_cli_resets_anyone(
    service: JobService, admin: AdminActions
) -> None:
    assert await fill(service, "mod") == 2
    for actor in (ADMIN, Actor.operator("chat:w1:mod")):
        with pytest.raises(InvalidRequest, match="Nobody resets their own day"):
            await admin.reset_day(actor, "chat:w1:mod")
    assert (await service.quota_report(origin(user="mod"))).used_today_s == 16
    await admin.reset_day(Actor.operator(), "chat:w1:mod")  # the CLI: no chat identity
    assert (await service.quota_report(origin(user="mod"))).used_today_s == 0
