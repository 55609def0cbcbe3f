"""Sentences for admins: what an admin action did (`bot.admin`'s outcomes), and how Slack's
`/veo admin` is used."""

from __future__ import annotations

from bot import admin, i18n
from bot.i18n import _
from bot.models import Authority, UsageRow
from bot.moderation import NOT_ENFORCED
from bot.texts._markup import Markup, seconds, user_id_of
from bot.texts._money import money_limits, spent

# --- admins -------------------------------------------------------------------------------


def not_an_admin(markup: Markup) -> str:
    """Refusal of an admin command to someone who is not an admin here."""
    if markup.workspace_admins is None:
        return _("Only the bot's admins (VEO_ADMINS) can change quotas, blocks or banned words.")
    return _(
        "Only this {workspace}'s admins ({workspace_admins}) and the bot's own admins can "
        "change quotas, blocks or banned words."
    ).format(workspace=markup.workspace, workspace_admins=markup.workspace_admins)


def _whose(subject: admin.Subject, markup: Markup) -> str:
    if subject.scope == "workspace":
        return _("this {workspace}").format(workspace=markup.workspace)
    return markup.mention(user_id_of(subject.key))


def _limits(done: admin.LimitsSet) -> str:
    parts = []
    if done.daily_s is not None:
        parts.append(_("{seconds} a day").format(seconds=seconds(done.daily_s)))
    if done.concurrent is not None:
        parts.append(_("{count} at a time").format(count=done.concurrent))
    if done.monthly_s is not None:
        parts.append(_("{seconds} a month").format(seconds=seconds(done.monthly_s)))
    parts.extend(money_limits(done.daily_micro_usd, done.monthly_micro_usd))
    return ", ".join(parts) or _("nothing")


def _term(term: admin.BannedTerm, markup: Markup) -> str:
    if term.enforced:
        return markup.code(term.term)
    return _("{term} ({not_enforced})").format(
        term=markup.code(term.term), not_enforced=_(NOT_ENFORCED)
    )


def admin_answer(outcome: admin.AdminOutcome, markup: Markup, *, top: int = 10) -> str:
    """What an admin action did, for the admin who asked; `top`: usage rows shown."""
    match outcome:
        case admin.LimitsSet(subject=subject):
            return _("Limits set for {whose}: {limits}.").format(
                whose=_whose(subject, markup), limits=_limits(outcome)
            )
        case admin.LimitsCleared(subject=subject, by=by):
            cleared = (
                _("Limits for {whose} cleared; the defaults apply again.")
                if by is Authority.OPERATOR
                else _("Limits for {whose} cleared; the operator's apply again.")
            )
            return cleared.format(whose=_whose(subject, markup))
        case admin.NothingToClear(subject=subject):
            if subject.scope == "workspace":
                return _("This {workspace} had no limits of its own.").format(
                    workspace=markup.workspace
                )
            return _("{person} had no limits of its own.").format(
                person=markup.mention(user_id_of(subject.key))
            )
        case admin.DayReset(user_key=key):
            return _("Today starts afresh for {person}.").format(
                person=markup.mention(user_id_of(key))
            )
        case admin.Blocked(user_key=key):
            return _("{person} blocked.").format(person=markup.mention(user_id_of(key)))
        case admin.AlreadyBlocked(user_key=key):
            return _("{person} was already blocked.").format(person=markup.mention(user_id_of(key)))
        case admin.Unblocked(user_key=key):
            return _("{person} unblocked.").format(person=markup.mention(user_id_of(key)))
        case admin.AlreadyUnblocked(user_key=key):
            return _("{person} was already unblocked.").format(
                person=markup.mention(user_id_of(key))
            )
        case admin.TermBanned():
            return _("Banned {in_this_workspace}.").format(
                in_this_workspace=markup.in_this_workspace
            )
        case admin.TermAlreadyBanned():
            return _("That was banned already.")
        case admin.TermAllowed():
            return _("Allowed again.")
        case admin.TermNotBanned():
            return _("That was not banned.")
        case admin.BannedTerms(terms=terms):
            if not terms:
                return _("Nothing is banned {in_this_workspace}.").format(
                    in_this_workspace=markup.in_this_workspace
                )
            return _("Banned here: {terms}").format(
                terms=", ".join(_term(term, markup) for term in terms)
            )
        case admin.UsageReport(rows=rows):
            if not rows:
                return _("No videos this month yet.")
            lines = [_usage_line(row, markup) for row in rows[:top]]
            return _("This month: {seconds} of video, {spent}. Top users:").format(
                seconds=seconds(outcome.total_s), spent=spent(outcome.total_micro_usd)
            ) + "".join("\n" + line for line in lines)


def _usage_line(row: UsageRow, markup: Markup) -> str:
    """One person's month in the usage report."""
    person = markup.mention(user_id_of(row.user_key))
    money = spent(row.settled_micro_usd, row.reserved_micro_usd)
    if row.reserved_s:
        return _("{person}: {seconds} in {jobs} job(s), {reserved} in progress, {spent}").format(
            person=person,
            seconds=seconds(row.settled_s),
            jobs=row.jobs,
            reserved=seconds(row.reserved_s),
            spent=money,
        )
    return _("{person}: {seconds} in {jobs} job(s), {spent}").format(
        person=person, seconds=seconds(row.settled_s), jobs=row.jobs, spent=money
    )


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
        "language de|en|es|fr|ja|pt_BR|off",
    )
    return " · ".join(markup.code(f"{command} admin {form}") for form in forms)


def name_a_person(typed: str) -> str:
    """Refusal of an admin command whose person is not a mention."""
    return _("Name a person as @someone, not {typed}.").format(typed=repr(typed))


def limits_look_like(typed: str) -> str:
    """Refusal of limits typed in a shape the admin command does not take."""
    return _(
        "Limits look like daily=60 concurrent=3 monthly=3600 daily-usd=5 monthly-usd=200, "
        "not {typed}."
    ).format(typed=repr(typed))


def limit_takes(name: str, whole: bool, typed: str) -> str:
    """Refusal of one limit's value that is not a (whole) number."""
    if whole:
        return _("{name} takes a whole number, not {typed}.").format(name=name, typed=repr(typed))
    return _("{name} takes a number, not {typed}.").format(name=name, typed=repr(typed))


# --- the workspace's language -------------------------------------------------------------


def language_name(locale: str) -> str:
    """A language as its own speakers write it ("Deutsch", "日本語", "português (Brasil)")."""
    return i18n.own_name(locale)


def language_fixed(locale: str | None, markup: Markup) -> str:
    """The answer to `language`: the workspace's language now, or each person's own again."""
    if locale is None:
        return _("Everyone {in_this_workspace} now reads the bot in their own language.").format(
            in_this_workspace=markup.in_this_workspace
        )
    return _("Everyone {in_this_workspace} now reads the bot in {language}.").format(
        in_this_workspace=markup.in_this_workspace, language=language_name(locale)
    )


def language_shown(locale: str | None, markup: Markup, command: str | None = None) -> str:
    """The workspace's language setting, asked without a value; `command` is how the
    surface's admins fix one (Discord gives its names in the reader's language)."""
    if locale is None:
        return _(
            "Everyone {in_this_workspace} reads the bot in their own language. Fix one with "
            "{command}."
        ).format(
            in_this_workspace=markup.in_this_workspace,
            command=markup.code(command or "language de"),
        )
    return _("Everyone {in_this_workspace} reads the bot in {language}.").format(
        in_this_workspace=markup.in_this_workspace, language=language_name(locale)
    )
