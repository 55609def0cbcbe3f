"""Languages on Slack: each person in their Slack language (`users.info` with
`include_locale`, asked once a while per person), their jobs in it to the end, and a workspace
that fixes one language for everyone (`/veo admin language`)."""

from __future__ import annotations

from pathlib import Path

from adapters.slack._markup import SLACK
from bot import i18n, texts
from bot.i18n import _
from bot.models import JobState
from storage.sqlite import SqliteStore
from tests.slack.support import card_of, result_of, running_bot


def said_in(locale: str, msgid: str) -> str:
    """The words of `msgid` in `locale` before its first placeholder."""
    with i18n.using(locale):
        fragment = _(msgid).split("{", 1)[0]
    assert len(fragment) > 3 and (locale == "en" or fragment != msgid.split("{", 1)[0])
    return fragment


async def test_a_person_whose_slack_speaks_spanish_is_answered_in_spanish(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        fake.user_locales["U7"] = "es-ES"

        await bot.command("un zorro en la nieve", user="U7")
        done = await bot.finished(await bot.next_job())
        await bot.command("quota", user="U7")
        await bot.command("quota", user="U1")
        [spanish, english] = await fake.wait_for(
            lambda: fake.responses if len(fake.responses) >= 2 else None
        )

        assert done.state is JobState.DELIVERED and done.origin.locale == "es"
        with i18n.using("es"):
            headline = texts.headline(JobState.DELIVERED)
        assert headline in card_of(fake, done).all_text and headline != "Done"
        used = "Today you have used {used} of video out of {limit}: {left}. It resets {when}."
        assert said_in("es", used) in spanish["text"]
        assert english["text"].startswith("Today you have used")
        # The delivery, made later by the scheduler, says what is left in Spanish too.
        report = await bot.service.quota_report(done.origin)
        with i18n.using("es"):
            left = _("{left} of your {limit} left today.").format(
                left=i18n.seconds(report.remaining_today_s),
                limit=i18n.seconds(report.daily_limit_s),
            )
        assert left in result_of(fake, done).all_text
        assert "left today" not in result_of(fake, done).all_text
        # Asked once for U7 however many requests: the locale is kept a while.
        asked = [c for c in fake.calls_to("users.info") if c.get("user") == "U7"]
        assert len(asked) == 1 and asked[0].get("include_locale") in ("true", "1", True)


async def test_a_workspace_that_fixes_portuguese_speaks_it_to_everyone_until_it_is_off(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        fake.user_locales["U7"] = "es-ES"

        async def answer(text: str, user: str) -> str:
            seen = len(fake.responses)
            await bot.command(text, user=user)
            replies = await fake.wait_for(
                lambda: fake.responses if len(fake.responses) > seen else None
            )
            return str(replies[-1]["text"])

        with i18n.using("pt_BR"):
            fixed = texts.language_fixed("pt_BR", SLACK)
        assert await answer("admin language pt-BR", user="UADMIN") == fixed
        quota_line = "Videos in progress: {running} of {limit} at a time."
        assert said_in("pt_BR", quota_line) in await answer("quota", user="U7")
        assert said_in("pt_BR", quota_line) in await answer("quota", user="U1")
        with i18n.using("pt_BR"):
            assert await answer("admin language de", user="U7") == texts.not_an_admin(SLACK)
        refused = await answer("admin language tlh", user="UADMIN")
        assert (
            said_in("pt_BR", "The bot does not speak {typed}. Choose one of {languages}, or off.")
            in refused
        )

        with i18n.using("pt_BR"):
            off = texts.language_fixed(None, SLACK)
        assert await answer("admin language off", user="UADMIN") == off
        assert said_in("es", quota_line) in await answer("quota", user="U7")
        assert (await answer("quota", user="U1")).startswith("Today you have used")
