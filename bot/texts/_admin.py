"""Sentences for admins: what an admin action did (`bot.admin`'s outcomes), and how Slack's
`/veo admin` is used."""

from __future__ import annotations

from bot import admin
from bot.models import Authority
from bot.moderation import NOT_ENFORCED
from bot.texts._markup import Markup, capitalised, user_id_of
from bot.texts._money import money_limits, spent

# --- admins -------------------------------------------------------------------------------


def not_an_admin(markup: Markup) -> str:
    """Refusal of an admin command to someone who is not an admin here."""
    if markup.workspace_admins is None:
        return "Only the bot's admins (VEO_ADMINS) can change quotas, blocks or banned words."
    return (
        f"Only this {markup.workspace}'s admins ({markup.workspace_admins}) and the bot's own "
        "admins can change quotas, blocks or banned words."
    )


def _whose(subject: admin.Subject, markup: Markup) -> str:
    if subject.scope == "workspace":
        return f"this {markup.workspace}"
    return markup.mention(user_id_of(subject.key))


def _limits(done: admin.LimitsSet) -> str:
    parts = []
    if done.daily_s is not None:
        parts.append(f"{done.daily_s:g} s a day")
    if done.concurrent is not None:
        parts.append(f"{done.concurrent} at a time")
    if done.monthly_s is not None:
        parts.append(f"{done.monthly_s:g} s a month")
    parts.extend(money_limits(done.daily_micro_usd, done.monthly_micro_usd))
    return ", ".join(parts) or "nothing"


def _term(term: admin.BannedTerm, markup: Markup) -> str:
    return markup.code(term.term) + ("" if term.enforced else f" ({NOT_ENFORCED})")


def admin_answer(outcome: admin.AdminOutcome, markup: Markup, *, top: int = 10) -> str:
    """What an admin action did, for the admin who asked; `top`: usage rows shown."""
    match outcome:
        case admin.LimitsSet(subject=subject):
            return f"Limits set for {_whose(subject, markup)}: {_limits(outcome)}."
        case admin.LimitsCleared(subject=subject, by=by):
            after = "the defaults" if by is Authority.OPERATOR else "the operator's"
            return f"Limits for {_whose(subject, markup)} cleared; {after} apply again."
        case admin.NothingToClear(subject=subject):
            return f"{capitalised(_whose(subject, markup))} had no limits of its own."
        case admin.DayReset(user_key=key):
            return f"Today starts afresh for {markup.mention(user_id_of(key))}."
        case admin.Blocked(user_key=key):
            return f"{markup.mention(user_id_of(key))} blocked."
        case admin.AlreadyBlocked(user_key=key):
            return f"{markup.mention(user_id_of(key))} was already blocked."
        case admin.Unblocked(user_key=key):
            return f"{markup.mention(user_id_of(key))} unblocked."
        case admin.AlreadyUnblocked(user_key=key):
            return f"{markup.mention(user_id_of(key))} was already unblocked."
        case admin.TermBanned():
            return f"Banned {markup.in_this_workspace}."
        case admin.TermAlreadyBanned():
            return "That was banned already."
        case admin.TermAllowed():
            return "Allowed again."
        case admin.TermNotBanned():
            return "That was not banned."
        case admin.BannedTerms(terms=terms):
            if not terms:
                return f"Nothing is banned {markup.in_this_workspace}."
            return "Banned here: " + ", ".join(_term(term, markup) for term in terms)
        case admin.UsageReport(rows=rows):
            if not rows:
                return "No videos this month yet."
            lines = [
                f"{markup.mention(user_id_of(row.user_key))}: {row.settled_s:g} s in {row.jobs} "
                "job(s)"
                + (f", {row.reserved_s:g} s in progress" if row.reserved_s else "")
                + f", {spent(row.settled_micro_usd, row.reserved_micro_usd)}"
                for row in rows[:top]
            ]
            total = f"{outcome.total_s:g} s of video, {spent(outcome.total_micro_usd)}"
            return f"This month: {total}. Top users:\n" + "\n".join(lines)


def admin_commands(command: str, markup: Markup) -> str:
    """What `/veo admin` takes (Slack), for an admin who typed something else."""
    forms = (
        "limits @user daily=60 concurrent=3 daily-usd=5",
        "limits workspace monthly=3600 daily=40 monthly-usd=200",
        "clear @user|workspace",
        "reset @user",
        "block @user",
        "unblock @user",
        "usage",
        "chart",
        "ban <word or re:pattern>",
        "unban <term>",
        "banned",
        "channel list|show|allow|close|set|reset",
    )
    return " · ".join(markup.code(f"{command} admin {form}") for form in forms)


def name_a_person(typed: str) -> str:
    """Refusal of an admin command whose person is not a mention."""
    return f"Name a person as @someone, not {typed!r}."


def limits_look_like(typed: str) -> str:
    """Refusal of limits typed in a shape the admin command does not take."""
    return (
        "Limits look like daily=60 concurrent=3 monthly=3600 daily-usd=5 monthly-usd=200, "
        f"not {typed!r}."
    )


def limit_takes(name: str, whole: bool, typed: str) -> str:
    """Refusal of one limit's value that is not a (whole) number."""
    return f"{name} takes {'a whole number' if whole else 'a number'}, not {typed!r}."
