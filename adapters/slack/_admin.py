"""`/veo admin …`: quotas, blocks, banned words and the usage report, for admins listed in
VEO_ADMINS as `slack:<user id>`. The same actions as the `veo-bot quota|usage|banned` CLI."""

from __future__ import annotations

import re

from bot import admin as actions
from bot import moderation
from bot.admin import AdminActions, Subject
from bot.errors import InvalidRequest
from bot.models import Actor

PLATFORM = "slack"
USAGE = (
    "`/veo admin limits @user daily=60 concurrent=3` · "
    "`/veo admin limits workspace monthly=3600 daily=40` · `/veo admin clear @user|workspace` · "
    "`/veo admin reset @user` · `/veo admin block @user` · `/veo admin unblock @user` · "
    "`/veo admin usage` · `/veo admin ban <word or re:pattern>` · `/veo admin unban <term>` · "
    "`/veo admin banned`"
)
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]+)$")
_LIMITS = {"daily": "daily_s", "concurrent": "concurrent", "monthly": "monthly_s"}


def _user(token: str) -> str:
    match = _USER.match(token)
    if not match:
        raise InvalidRequest(f"Name a person as @someone, not {token!r}.")
    return match.group(1) or match.group(2)


def _listed(term: actions.BannedTerm) -> str:
    return f"`{term.term}`" + ("" if term.enforced else f" ({moderation.NOT_ENFORCED})")


def _subject(team: str, token: str) -> Subject:
    if token.lower() == "workspace":
        return Subject.workspace(f"{PLATFORM}:{team}")
    return Subject.user(f"{PLATFORM}:{team}:{_user(token)}")


def _limits(pairs: list[str]) -> dict[str, float]:
    """The numbers as typed; the core refuses any that is not a sane limit (nan, inf, -1)."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in _LIMITS or not raw:
            raise InvalidRequest(
                f"Limits look like daily=60 concurrent=3 monthly=3600, not {pair!r}."
            )
        try:
            values[_LIMITS[name]] = int(raw) if name == "concurrent" else float(raw)
        except ValueError:
            kind = "a whole number" if name == "concurrent" else "a number"
            raise InvalidRequest(f"{name} takes {kind}, not {raw!r}.") from None
    return values


async def run(admin: AdminActions, team: str, text: str, actor: Actor) -> str:
    """Carry out one admin command for `actor`; return what to tell the admin."""
    words = text.split()
    if not words:
        return USAGE
    action, args = words[0].lower(), words[1:]
    workspace = f"{PLATFORM}:{team}"
    if action == "limits" and args:
        subject = _subject(team, args[0])
        values = _limits(args[1:])
        await admin.set_limits(
            actor,
            subject,
            daily_s=values.get("daily_s"),
            concurrent=int(values["concurrent"]) if "concurrent" in values else None,
            monthly_s=values.get("monthly_s"),
        )
        return f"Limits set for {args[0]}."
    if action == "clear" and len(args) == 1:
        cleared = await admin.clear_limits(actor, _subject(team, args[0]))
        if isinstance(cleared, actions.LimitsCleared):
            return f"Limits for {args[0]} cleared."
        return f"{args[0]} had no limits of its own."
    if action == "reset" and len(args) == 1:
        await admin.reset_day(actor, f"{workspace}:{_user(args[0])}")
        return f"Today starts afresh for {args[0]}."
    if action in ("block", "unblock") and len(args) == 1:
        outcome = await admin.set_blocked(f"{workspace}:{_user(args[0])}", action == "block")
        changed = isinstance(outcome, actions.Blocked | actions.Unblocked)
        return f"{args[0]} {action}ed." if changed else f"{args[0]} was already {action}ed."
    if action == "usage":
        report = await admin.usage(workspace_key=workspace)
        if not report.rows:
            return "No videos this month yet."
        lines = [
            f"<@{row.user_key.rsplit(':', 1)[-1]}>: {row.settled_s:g} s in {row.jobs} job(s)"
            + (f", {row.reserved_s:g} s in progress" if row.reserved_s else "")
            for row in report.rows[:10]
        ]
        return "This month's top users:\n" + "\n".join(lines)
    if action in ("ban", "unban") and args:
        match await admin.set_banned(workspace, " ".join(args), action == "ban"):
            case actions.TermBanned():
                return "Banned in this workspace."
            case actions.TermAlreadyBanned():
                return "That was banned already."
            case actions.TermAllowed():
                return "Allowed again."
            case actions.TermNotBanned():
                return "That was not banned."
    if action == "banned":
        listed = await admin.banned_terms(workspace)
        if not listed.terms:
            return "Nothing is banned."
        return "Banned here: " + ", ".join(_listed(term) for term in listed.terms)
    return USAGE
