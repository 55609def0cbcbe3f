"""`veo-bot` in the terminal user's language (LC_ALL, else LC_MESSAGES, else LANG): a German
and a Japanese run show their refusals and quota lines in German and Japanese, and a workspace's
language is fixed from the terminal (`veo-bot language`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import i18n, money
from bot.cli import cli_locale
from bot.i18n import _
from storage import open_store
from tests.support import run_cli

DAILY_REFUSAL = (
    "This video costs {cost} (≈ {price}) of your daily quota, and you have {left} of {limit} "
    "left today. Your quota resets at {resets}."
)


def in_language(locale: str, msgid: str, **values: object) -> str:
    """`msgid` as the catalog of `locale` words it, with `values` put in."""
    with i18n.using(locale):
        return _(msgid).format(**values)


@pytest.mark.parametrize(
    ("environment", "spoken"),
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LC_MESSAGES": "fr_FR.UTF-8", "LANG": "de_DE.UTF-8"}, "fr"),
        ({"LC_ALL": "pt_BR.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, "pt_BR"),
        ({"LC_ALL": "C.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_terminals_language_is_read_as_posix_reads_it(
    environment: dict[str, str], spoken: str
) -> None:
    assert cli_locale(environment) == spoken


@pytest.mark.parametrize(("lang", "locale"), [("de_DE.UTF-8", "de"), ("ja_JP.UTF-8", "ja")])
def test_refusals_and_quota_lines_come_in_the_terminals_language(
    tmp_path: Path, lang: str, locale: str
) -> None:
    def veo(*args: str) -> tuple[int, str, str]:
        result = run_cli(tmp_path, *args, LANG=lang)
        return result.returncode, result.stdout, result.stderr

    code, out, _err = veo("quota", "set", "--user", "console:local:alice", "--daily", "3")
    with i18n.using(locale):
        user = _("user")
    assert code == 0
    assert (
        out
        == in_language(
            locale, "limits set for {scope} {subject}", scope=user, subject="console:local:alice"
        )
        + "\n"
    )

    code, _out, err = veo(
        "try", "x", "--user", "alice", "--model", "local-draft", "--duration", "4"
    )
    with i18n.using(locale):
        refusal = (
            _(DAILY_REFUSAL)
            .split("{resets}")[0]
            .format(
                cost=i18n.seconds(4),
                price=money.fmt(0),
                left=i18n.seconds(3),
                limit=i18n.seconds(3),
            )
        )
    assert code == 3 and refusal in err
    assert "This video costs" not in err

    code, out, _err = veo("quota", "show")
    assert code == 0
    assert out.splitlines()[0] == in_language(
        locale,
        "{scope} {subject}: {limits}",
        scope=user,
        subject="console:local:alice",
        limits="daily 3",
    )

    code, _out, err = veo("quota", "reset-day", "--workspace", "console:local")
    assert code == 2
    assert (
        err
        == "veo-bot: "
        + in_language(locale, "{action} applies to a user (--user)", action="reset-day")
        + "\n"
    )


def test_a_workspaces_language_is_fixed_and_lifted_from_the_terminal(tmp_path: Path) -> None:
    def veo(*args: str) -> tuple[int, str, str]:
        result = run_cli(tmp_path, *args)
        return result.returncode, result.stdout, result.stderr

    assert (
        veo("language", "slack:T1")[1]
        == in_language(
            "en",
            "Everyone {in_this_workspace} reads the bot in their own language. Fix one with "
            "{command}.",
            in_this_workspace="in this workspace",
            command="language de",
        )
        + "\n"
    )
    code, out, _err = veo("language", "slack:T1", "ja-JP")
    assert code == 0 and "日本語" in out
    code, _out, err = veo("language", "slack:T1", "tlh")
    assert code == 2 and "The bot does not speak 'tlh'" in err

    async def fixed() -> str | None:
        store = await open_store(f"sqlite:///{tmp_path / 'veo.db'}")
        try:
            return await store.workspace_locale("slack:T1")
        finally:
            await store.close()

    assert asyncio.run(fixed()) == "ja"
    assert veo("language", "slack:T1", "off")[0] == 0
    assert asyncio.run(fixed()) is None
    code, _out, err = veo("language", "T1", "de")
    assert code == 2 and "slack:T0123" in err
