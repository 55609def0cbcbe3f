"""`/veo admin …`: quotas, blocks, banned words and the usage report, for admins listed in
VEO_ADMINS as `slack:<user id>`. The same actions as the `veo-bot quota|usage|banned` CLI."""

from __future__ import annotations

import re

from adapters.slack._markup import SLACK
from bot import texts
from bot.admin import AdminActions, AdminOutcome, Subject
from bot.errors import InvalidRequest
from bot.models import Actor

PLATFORM = "slack"
COMMAND = "/veo"
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]+)$")
_LIMITS = {
    "daily": "daily_s",
    "concurrent": "concurrent",
    "monthly": "monthly_s",
    "daily-usd": "daily_usd",
    "monthly-usd": "monthly_usd",
}
# Money is read by the core (exact decimals, refused in plain words): passed on as typed.
_AS_TYPED = ("daily-usd", "monthly-usd")


def _user(token: str) -> str:
    match = _USER.match(token)
    if not match:
        raise InvalidRequest(texts.name_a_person(token))
    return match.group(1) or match.group(2)


def _subject(team: str, token: str) -> Subject:
    if token.lower() == "workspace":
        return Subject.workspace(f"{PLATFORM}:{team}")
    return Subject.user(f"{PLATFORM}:{team}:{_user(token)}")


def _limits(pairs: list[str]) -> dict[str, float | str]:
    """The numbers as typed; the core refuses any that is not a sane limit (nan, inf, -1)."""
    values: dict[str, float | str] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in _LIMITS or not raw:
            raise InvalidRequest(texts.limits_look_like(pair))
        if name in _AS_TYPED:
            values[_LIMITS[name]] = raw
            continue
        try:
            values[_LIMITS[name]] = int(raw) if name == "concurrent" else float(raw)
        except ValueError:
            raise InvalidRequest(texts.limit_takes(name, name == "concurrent", raw)) from None
    return values


def _number(value: float | str | None) -> float | None:
    return None if value is None else float(value)


async def run(admin: AdminActions, team: str, text: str, actor: Actor) -> str:
    """Carry out one admin command for `actor`; return what to tell the admin."""
    outcome = await _act(admin, team, text.split(), actor)
    if outcome is None:
        return texts.admin_commands(COMMAND, SLACK)
    return texts.admin_answer(outcome, SLACK)


async def _act(
    admin: AdminActions, team: str, words: list[str], actor: Actor
) -> AdminOutcome | None:
    """The action the words name, done; None when they name none."""
    if not words:
        return None
    action, args = words[0].lower(), words[1:]
    workspace = f"{PLATFORM}:{team}"
    if action == "limits" and args:
        subject = _subject(team, args[0])
        values = _limits(args[1:])
        return await admin.set_limits(
            actor,
            subject,
            daily_s=_number(values.get("daily_s")),
            concurrent=int(values["concurrent"]) if "concurrent" in values else None,
            monthly_s=_number(values.get("monthly_s")),
            daily_usd=values.get("daily_usd"),
            monthly_usd=values.get("monthly_usd"),
        )
    if action == "clear" and len(args) == 1:
        return await admin.clear_limits(actor, _subject(team, args[0]))
    if action == "reset" and len(args) == 1:
        return await admin.reset_day(actor, f"{workspace}:{_user(args[0])}")
    if action in ("block", "unblock") and len(args) == 1:
        return await admin.set_blocked(f"{workspace}:{_user(args[0])}", action == "block")
    if action == "usage":
        return await admin.usage(workspace_key=workspace)
    if action in ("ban", "unban") and args:
        return await admin.set_banned(workspace, " ".join(args), action == "ban")
    if action == "banned":
        return await admin.banned_terms(workspace)
    return None
