"""Languages on Discord: each member in their client's language (`interaction.locale`), the
commands registered with localised names and descriptions, a job that keeps its requester's
language across a restart, and a server that fixes one language for everyone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.discord._markup import DISCORD
from adapters.discord._translator import valid_name
from bot import i18n, texts
from bot.i18n import _
from bot.models import JobState
from storage.sqlite import SqliteStore
from tests.discord.support import RUNNING, finish_at_provider, running_bot
from tests.fakes._base import sample_mp4
from tests.fakes.discord import EPHEMERAL, MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord
from tests.support import ScriptedProvider

CHAT_INPUT = 1
# The names a language keeps as the English word (the word its speakers type); every other
# command and option name is translated.
KEPT_IN_ENGLISH = {"de": {"veo", "veo-admin", "prompt", "seed", "audio", "limits"}, "ja": {"veo"}}
NAME = re.compile(r"^[-_\w]{1,32}$")
QUEUED = (
    "Queued as job {job}: {model}, {cost}, {aspect_ratio}. {seconds} of your daily quota are "
    "set aside and only charged if the video arrives. {appears}"
)


def said_in(locale: str, msgid: str) -> str:
    """The words of `msgid` in `locale` before its first placeholder: a fragment any
    sentence made from it holds."""
    with i18n.using(locale):
        fragment = _(msgid).split("{", 1)[0]
    assert len(fragment) > 3 and (locale == "en" or fragment != msgid.split("{", 1)[0])
    return fragment


async def test_a_member_whose_discord_speaks_french_is_answered_in_french(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        amelie = fake.add_user("amelie", locale="fr")
        asked = await fake.slash("veo", {"prompt": "un renard dans la neige"}, user=amelie)
        reply = await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        assert done.origin.locale == "fr"
        assert said_in("fr", QUEUED) in reply
        assert "Queued as job" not in reply
        with i18n.using("fr"):
            ready = texts.video_ready(str(amelie.id), DISCORD)
            headline = texts.headline(JobState.DELIVERED)
        assert ready in (await bot.video_message(done)).text()
        [card] = fake.bot_messages_in(fake.channel_id)
        assert headline in card.text() and headline != "Done"

        # The owner's client speaks English: the same bot answers them in English.
        english = await bot.reply(await fake.slash("veo-quota"))
        assert english.startswith("Today you have used")


async def test_the_commands_are_registered_with_names_and_descriptions_in_every_language(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        veo = bot.fake.registered("veo", CHAT_INPUT)
        admin = bot.fake.registered("veo-admin", CHAT_INPUT)

    descriptions = veo["description_localizations"]
    for discord_locale, spoken in (("fr", "fr"), ("de", "de"), ("ja", "ja"), ("pt-BR", "pt_BR")):
        with i18n.using(spoken):
            assert descriptions[discord_locale] == _(veo["description"])
    assert descriptions["es-ES"] == descriptions["es-419"]
    assert "zh-CN" not in descriptions  # a language the bot does not speak: Discord's English
    for option in [*veo["options"], *admin["options"]]:
        for said in (option.get("name_localizations") or {}).values():
            assert NAME.match(said) and said == said.lower(), said
    [prompt] = [o for o in veo["options"] if o["name"] == "prompt"]
    assert set(prompt["description_localizations"]) >= {"de", "fr", "ja", "pt-BR", "es-ES"}


async def test_a_job_speaks_its_requesters_language_after_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with FakeDiscord() as fake:
        kenji = fake.add_user("kenji", locale="ja")
        async with running_bot(store, tmp_path, fake=fake, provider=provider) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "桜の木"}, user=kenji))
            job = await bot.started()
            await bot.scheduler.stop(grace_s=0)

        # A new process, whose every other word is English, delivers the video in Japanese.
        assert i18n.current() == "en"
        async with running_bot(store, tmp_path, fake=fake, provider=provider) as again:
            finish_at_provider(again, job)
            done = await again.finished(job)
            video = await again.video_message(done)

    assert done.state is JobState.DELIVERED and done.origin.locale == "ja"
    with i18n.using("ja"):
        assert texts.video_ready(str(kenji.id), DISCORD) in video.text()


async def test_a_server_that_fixes_german_speaks_german_to_everyone_until_it_is_off(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        amelie = fake.add_user("amelie", locale="fr")
        quota_line = "Videos in progress: {running} of {limit} at a time."

        async def admin(options: dict[str, object]) -> str:
            asked = await fake.slash("veo-admin language", options)
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text

        with i18n.using("de"):
            assert await admin({"language": "de"}) == texts.language_fixed("de", DISCORD)
        assert said_in("de", quota_line) in await bot.reply(
            await fake.slash("veo-quota", user=amelie)
        )
        asked = await fake.slash("veo", {"prompt": "ein Fuchs"}, user=amelie)
        await bot.reply(asked)
        assert (await bot.next_job()).origin.locale == "de"
        with i18n.using("de"):
            assert await admin({}) == texts.language_shown("de", DISCORD)

        refused = await admin({"language": "klingon"})
        assert (
            said_in("de", "The bot does not speak {typed}. Choose one of {languages}, or off.")
            in refused
        )
        assert await bot.service.languages.fixed(f"discord:{fake.guild_id}") == "de"

        assert await admin({"language": "off"}) == texts.language_fixed(None, DISCORD)
        assert said_in("fr", quota_line) in await bot.reply(
            await fake.slash("veo-quota", user=amelie)
        )


def test_a_translated_name_is_kept_only_when_discord_takes_it_as_a_name() -> None:
    assert valid_name("veo-quota") and valid_name("seitenverhältnis") and valid_name("動画")
    assert not valid_name("Veo Quota")  # capitals and a space
    assert not valid_name("anteil-am-seitenverhältnis-des-videos")  # past 32 characters
    assert not valid_name("")


def _levels(
    items: list[dict[str, Any]], path: str = ""
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each level of a command tree (the commands, then each command's options and
    subcommands), named by the path that leads to it."""
    yield path or "/", items
    for item in items:
        if item.get("options"):
            yield from _levels(item["options"], f"{path}/{item['name']}")


def _localised(item: dict[str, Any], locale: str) -> str:
    return str((item.get("name_localizations") or {}).get(locale, item["name"]))


async def test_command_and_option_names_are_localised_valid_and_unique_per_level(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        commands = [
            bot.fake.registered(name, CHAT_INPUT)
            for name in ("veo", "veo-quota", "veo-history", "veo-admin")
        ]
    veo, quota, history, admin = commands

    def named(items: list[dict[str, Any]], *path: str) -> dict[str, Any]:
        [item] = [i for i in items if i["name"] == path[0]]
        return named(item["options"], *path[1:]) if path[1:] else item

    # What a German or Japanese member sees in their client.
    assert quota["name_localizations"]["de"] == "veo-kontingent"
    assert history["name_localizations"]["ja"] == "veo-履歴"
    assert _localised(veo, "de") == _localised(veo, "ja") == "veo"  # the same everywhere
    assert named(veo["options"], "duration")["name_localizations"]["de"] == "dauer"
    assert named(veo["options"], "count")["name_localizations"]["de"] == "anzahl"
    assert named(veo["options"], "aspect_ratio")["name_localizations"]["ja"] == "アスペクト比"
    assert named(admin["options"], "channel")["name_localizations"]["de"] == "kanal"
    everywhere = named(admin["options"], "channel", "set", "everywhere")
    assert (_localised(everywhere, "de"), _localised(everywhere, "ja")) == ("überall", "すべて")
    assert named(admin["options"], "limits", "daily_usd")["name_localizations"]["ja"] == "日次_usd"

    # In every language the bot speaks each command and option has a name within Discord's
    # rules, and no two siblings share a name.
    locales = ("de", "fr", "es-ES", "es-419", "pt-BR", "ja")
    for where, level in _levels(commands):
        for item in level:
            for locale in locales:
                said = _localised(item, locale)
                assert valid_name(said) and len(said) <= 32, (where, locale, said)
        for locale, kept in KEPT_IN_ENGLISH.items():
            for item in level:
                translated = locale in (item.get("name_localizations") or {})
                assert translated != (item["name"] in kept), (where, locale, item["name"])
        for locale in locales:
            names = [_localised(item, locale) for item in level]
            assert len(names) == len(set(names)), (where, locale, names)


async def test_an_admin_is_told_the_command_names_their_own_client_shows(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        jonas = fake.add_user("jonas", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD, locale="de")
        german = await bot.reply(await fake.slash("veo-admin language", {}, user=jonas))
        english = await bot.reply(await fake.slash("veo-admin language", {}))

    assert "/veo-admin sprache sprache:de" in german
    assert "language" not in german
    assert "/veo-admin language language:de" in english
