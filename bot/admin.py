"""Who the admins are, and what they steer: limits, day resets, blocks, banned words and the
usage report.

Discord's `/veo-admin`, Slack's `/veo admin …` and the `veo-bot quota|usage|banned` CLI all
call `AdminActions`; each action returns a typed outcome that says what happened, and each
surface puts it in words (`bot.texts` for the chat surfaces). Callers check that the person is
an admin first; the actions apply the rules of authority (`Actor`): the operator (VEO_ADMINS in
chat, anyone at the CLI) sets any sane number; a workspace's own admins only lower limits and
share them out inside the operator's caps, and clear only their own; nobody resets their own
day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot import moderation, money, quota, usage_chart
from bot.clock import Clock
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import Actor, Authority, Job, QuotaLimits, UsageRow
from bot.ports import Store
from bot.quota import period_at
from bot.usage_chart import UsageChart

Scope = Literal["user", "workspace"]


# --- who is an admin ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """A person in chat as an adapter saw them, in plain ids. `manages_workspace`: the
    platform says they run the workspace they act in (Discord: the Manage Server permission;
    Slack does not say)."""

    platform: str
    workspace_id: str
    user_id: str
    manages_workspace: bool = False

    @property
    def user_key(self) -> str:
        """The person's key in quotas and admin lists: `platform:workspace:user`."""
        return f"{self.platform}:{self.workspace_id}:{self.user_id}"

    @property
    def workspace_key(self) -> str:
        """The workspace's key in quotas and admin lists: `platform:workspace`."""
        return f"{self.platform}:{self.workspace_id}"


class Admins:
    """Who may steer the bot: the people listed in VEO_ADMINS (`platform:user id`), who speak
    as the operator, and each workspace's own admins, as the platform names them."""

    def __init__(self, listed: Iterable[str]) -> None:
        self.listed = frozenset(listed)

    def actor(self, member: Member) -> Actor | None:
        """The authority `member` acts with; None: not an admin."""
        if f"{member.platform}:{member.user_id}" in self.listed:
            return Actor.operator(member.user_key)
        if member.manages_workspace:
            return Actor.workspace_admin(member.user_key, member.workspace_key)
        return None

    def can_delete(self, job: Job | None, member: Member) -> bool:
        """Whether `member` may delete a posted video: the person who asked for it, the bot's
        own admins, or an admin of the workspace it was made in. A video whose job the bot no
        longer knows: admins only."""
        actor = self.actor(member)
        if job is None:
            return actor is not None
        origin = job.origin
        if (origin.platform, origin.user_id) == (member.platform, member.user_id):
            return True
        if actor is None:
            return False
        return actor.authority is Authority.OPERATOR or actor.workspace_key == origin.workspace_key


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose limits: a person (`platform:workspace:user`) or a workspace
    (`platform:workspace`)."""

    scope: Scope
    key: str

    @classmethod
    def user(cls, user_key: str) -> Subject:
        """A person as the subject of an admin action."""
        return cls("user", user_key)

    @classmethod
    def workspace(cls, workspace_key: str) -> Subject:
        """A whole workspace as the subject of an admin action."""
        return cls("workspace", workspace_key)


# --- outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimitsSet:
    """The limits given were set for the subject (None: left as it was)."""

    subject: Subject
    daily_s: float | None
    concurrent: int | None
    monthly_s: float | None
    daily_micro_usd: int | None = None  # 0: no money limit
    monthly_micro_usd: int | None = None


@dataclass(frozen=True, slots=True)
class LimitsCleared:
    """The subject's own limits were cleared; `by` says whose apply again: the defaults when
    the operator cleared them, the operator's when a workspace admin cleared theirs."""

    subject: Subject
    by: Authority


@dataclass(frozen=True, slots=True)
class NothingToClear:
    """The subject had no limits of its own (none of the actor's, for a workspace admin)."""

    subject: Subject


@dataclass(frozen=True, slots=True)
class DayReset:
    """The person has today's quota back."""

    user_key: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """The person may no longer make videos."""

    user_key: str


@dataclass(frozen=True, slots=True)
class AlreadyBlocked:
    """The person was blocked already: nothing changed."""

    user_key: str


@dataclass(frozen=True, slots=True)
class Unblocked:
    """The person may make videos again."""

    user_key: str


@dataclass(frozen=True, slots=True)
class AlreadyUnblocked:
    """The person was not blocked: nothing changed."""

    user_key: str


@dataclass(frozen=True, slots=True)
class TermBanned:
    """Prompts with the term are refused in the workspace from now on."""

    workspace_key: str
    term: str


@dataclass(frozen=True, slots=True)
class TermAlreadyBanned:
    """The term was banned already: nothing changed."""

    workspace_key: str
    term: str


@dataclass(frozen=True, slots=True)
class TermAllowed:
    """The term is no longer banned in the workspace."""

    workspace_key: str
    term: str


@dataclass(frozen=True, slots=True)
class TermNotBanned:
    """The term was not banned: nothing changed."""

    workspace_key: str
    term: str


@dataclass(frozen=True, slots=True)
class BannedTerm:
    """One banned term; `enforced` is False for a pattern saved before RE2 that RE2 cannot
    run (it is skipped, and listed so that an admin replaces it)."""

    term: str
    enforced: bool


@dataclass(frozen=True, slots=True)
class BannedTerms:
    """Every term banned in a workspace."""

    workspace_key: str
    terms: tuple[BannedTerm, ...]


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Seconds of video per person in one month, most first (the store's order)."""

    month: str
    rows: tuple[UsageRow, ...]

    @property
    def total_s(self) -> float:
        """Seconds of video made (settled) in the month, by everyone in the report."""
        return sum(row.settled_s for row in self.rows)

    @property
    def total_micro_usd(self) -> int:
        """Money charged (settled) in the month, in micro-dollars, by everyone in the report."""
        return sum(row.settled_micro_usd for row in self.rows)


ClearOutcome = LimitsCleared | NothingToClear
BlockOutcome = Blocked | AlreadyBlocked | Unblocked | AlreadyUnblocked
BanOutcome = TermBanned | TermAlreadyBanned | TermAllowed | TermNotBanned
AdminOutcome = (
    LimitsSet | ClearOutcome | DayReset | BlockOutcome | BanOutcome | BannedTerms | UsageReport
)


# --- the actions --------------------------------------------------------------------------


class AdminActions:
    """The admin actions over the store; `defaults` are the operator's limits from the
    environment (VEO_QUOTA_*), the caps a workspace admin works within."""

    def __init__(self, store: Store, *, defaults: QuotaLimits, clock: Clock) -> None:
        self.store = store
        self.defaults = defaults
        self.clock = clock

    async def set_limits(
        self,
        actor: Actor,
        subject: Subject,
        *,
        daily_s: float | None = None,
        concurrent: int | None = None,
        monthly_s: float | None = None,
        daily_usd: str | float | Decimal | None = None,
        monthly_usd: str | float | Decimal | None = None,
    ) -> LimitsSet:
        """Set limits as `actor`'s word. The operator sets any sane number; a workspace admin
        only numbers within the operator's caps for that subject (`quota.check_within_caps`),
        and their rows are kept apart from the operator's, the tighter applying. Money limits
        (`daily_usd`, `monthly_usd`) are US dollars as typed, 0 meaning no money limit."""
        if subject.scope not in ("user", "workspace"):
            raise InvalidRequest(_("Limits are set for a user or a workspace."))
        if subject.scope == "user" and (monthly_s is not None or monthly_usd is not None):
            raise InvalidRequest(_("The monthly limit belongs to a workspace, not a user."))
        given = (daily_s, concurrent, monthly_s, daily_usd, monthly_usd)
        if all(value is None for value in given):
            raise InvalidRequest(_("Give at least one limit to set."))
        quota.check_limit_values(daily_s=daily_s, concurrent=concurrent, monthly_s=monthly_s)
        daily_micro = None if daily_usd is None else money.parse_usd("daily-usd", daily_usd)
        monthly_micro = None if monthly_usd is None else money.parse_usd("monthly-usd", monthly_usd)
        if actor.authority is Authority.WORKSPACE_ADMIN:
            assert actor.workspace_key is not None
            if subject.scope == "workspace":
                overrides = await self.store.limit_overrides(None, subject.key)
            else:
                overrides = await self.store.limit_overrides(subject.key, actor.workspace_key)
            caps = quota.operator_caps(self.defaults, overrides)
            quota.check_within_caps(
                caps,
                daily_s=daily_s,
                concurrent=concurrent,
                monthly_s=monthly_s,
                daily_micro_usd=daily_micro,
                monthly_micro_usd=monthly_micro,
            )
        whole = int(concurrent) if concurrent is not None else None
        await self.store.set_override(
            subject.scope,
            subject.key,
            set_by=actor.authority,
            now=self.clock.now(),
            daily_s=daily_s,
            concurrent=whole,
            monthly_s=monthly_s,
            daily_micro_usd=daily_micro,
            monthly_micro_usd=monthly_micro,
        )
        return LimitsSet(subject, daily_s, whole, monthly_s, daily_micro, monthly_micro)

    async def clear_limits(self, actor: Actor, subject: Subject) -> ClearOutcome:
        """A workspace admin clears their own limits for the subject; the operator, all."""
        mine = actor.authority if actor.authority is Authority.WORKSPACE_ADMIN else None
        if await self.store.clear_override(subject.scope, subject.key, set_by=mine):
            return LimitsCleared(subject, actor.authority)
        return NothingToClear(subject)

    async def reset_day(self, actor: Actor, user_key: str) -> DayReset:
        """Give a person today's quota back. Never one's own: the CLI (no chat identity,
        shell access) may reset anyone."""
        if actor.user_key is not None and actor.user_key == user_key:
            raise InvalidRequest(
                _("Nobody resets their own day: ask another admin, or the bot's operator.")
            )
        now = self.clock.now()
        await self.store.reset_day(user_key, period_at(now).day, now=now)
        return DayReset(user_key)

    async def set_blocked(self, user_key: str, blocked: bool) -> BlockOutcome:
        """Stop a person making videos (`blocked`), or let them again."""
        changed = await self.store.set_blocked(user_key, blocked, now=self.clock.now())
        if blocked:
            return Blocked(user_key) if changed else AlreadyBlocked(user_key)
        return Unblocked(user_key) if changed else AlreadyUnblocked(user_key)

    async def set_banned(self, workspace_key: str, term: str, banned: bool) -> BanOutcome:
        """Refuse prompts with `term` in the workspace (`banned`), or allow it again. A term
        that cannot work is refused in plain words (`moderation.compile_term`)."""
        if banned:
            moderation.compile_term(term)
        term = term.strip()
        changed = await self.store.set_banned_term(
            workspace_key, term, banned, now=self.clock.now(), max_terms=moderation.MAX_TERMS
        )
        if banned:
            return (TermBanned if changed else TermAlreadyBanned)(workspace_key, term)
        return (TermAllowed if changed else TermNotBanned)(workspace_key, term)

    async def banned_terms(self, workspace_key: str) -> BannedTerms:
        """The terms banned in the workspace, each saying whether it is enforced."""
        terms = await self.store.banned_terms(workspace_key)
        listed = tuple(BannedTerm(term, not moderation.unusable(term)) for term in terms)
        return BannedTerms(workspace_key, listed)

    async def usage(
        self, month: str | None = None, workspace_key: str | None = None
    ) -> UsageReport:
        """Seconds per person in `month` (default: this month, UTC), in one workspace or in
        all."""
        month = month or period_at(self.clock.now()).month
        return UsageReport(month, tuple(await self.store.usage_report(month, workspace_key)))

    async def usage_chart(
        self, month: str | None = None, workspace_key: str | None = None
    ) -> UsageChart:
        """The chart of money spent per day and per person in `month` (default: this month,
        UTC), in one workspace or in all, in the display currency. Drawn in a thread: the
        event loop keeps serving meanwhile."""
        month = month or period_at(self.clock.now()).month
        return await usage_chart.draw(self.store, month, workspace_key)
