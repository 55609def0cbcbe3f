"""What admins do with channel rules (`bot.channels`): list, show, allow, close, set, reset.

Discord's `/veo-admin channel …`, Slack's `/veo admin channel …` and `veo-bot channel …` all
call `ChannelActions`, which checks every value against the catalog before anything changes
and returns a typed outcome each surface puts in words (`bot.texts`). Authority is
`bot.admin`'s: callers check that the person is an admin first; a workspace's own admins act
on their workspace only, the operator (VEO_ADMINS, the CLI) on any.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot import i18n
from bot.catalog import Catalog, ModelSpec
from bot.channels import (
    EVERY_CHANNEL,
    MAX_CHANNEL_DAILY_S,
    PERSON_GENERATION,
    SETTINGS,
    ChannelRule,
    ChannelRules,
    budget_value_ok,
)
from bot.clock import Clock
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import Actor, Authority
from bot.ports import Store
from bot.quota import period_at

# --- outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelList:
    """Every rule of the workspace."""

    rules: ChannelRules


@dataclass(frozen=True, slots=True)
class ChannelShown:
    """One channel: whether `/veo` works there, the rule in force (its own over the
    workspace's), and the seconds used today against its daily budget."""

    channel_id: str
    open: bool
    rule: ChannelRule
    used_today_s: float


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """`/veo` now works in the channel (`EVERY_CHANNEL`: in every channel not closed one by
    one); `changed` False: it did already."""

    channel_id: str
    changed: bool
    rules: ChannelRules


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """`/veo` no longer works in the channel (`EVERY_CHANNEL`: anywhere but the channels
    allowed one by one); `changed` False: it did not already."""

    channel_id: str
    changed: bool
    rules: ChannelRules


@dataclass(frozen=True, slots=True)
class ChannelSet:
    """The settings given were set; `rule` is the channel's own rule after."""

    channel_id: str
    rule: ChannelRule


@dataclass(frozen=True, slots=True)
class ChannelReset:
    """The named settings (all: the whole rule, open or closed included) were forgotten;
    `changed` False: nothing was said about them."""

    channel_id: str
    settings: tuple[str, ...]
    changed: bool


ChannelOutcome = (
    ChannelList | ChannelShown | ChannelOpened | ChannelClosed | ChannelSet | ChannelReset
)

# The settings `set`/`reset` name, and the store's columns behind each.
_COLUMNS_OF = {
    "model": ("provider", "model"),
    "aspect": ("aspect_ratio",),
    "private": ("private",),
    "daily": ("daily_s",),
    "people": ("person_generation",),
}


class ChannelActions:
    """The channel-rule actions over the store; the catalog and the providers set up on this
    bot decide which models and aspect ratios a channel may default to."""

    def __init__(
        self,
        store: Store,
        *,
        catalog: Catalog,
        providers: Collection[str],
        default_provider: str,
        default_model: str | None,
        clock: Clock,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.providers = providers
        self.default_provider = default_provider
        self.default_model = default_model
        self.clock = clock

    async def _rules(self, workspace_key: str) -> ChannelRules:
        return ChannelRules.of(workspace_key, await self.store.channel_rules(workspace_key))

    @staticmethod
    def _check_authority(actor: Actor, workspace_key: str) -> None:
        if actor.authority is Authority.WORKSPACE_ADMIN and actor.workspace_key != workspace_key:
            raise InvalidRequest(_("You can change the channel rules of your own workspace only."))

    async def listing(self, workspace_key: str) -> ChannelList:
        """Every rule of the workspace."""
        return ChannelList(await self._rules(workspace_key))

    async def show(self, workspace_key: str, channel_id: str) -> ChannelShown:
        """The channel as `/veo` sees it now."""
        rules = await self._rules(workspace_key)
        day = period_at(self.clock.now()).day
        used = await self.store.channel_used_today(f"{workspace_key}:{channel_id}", day)
        return ChannelShown(
            channel_id, rules.is_open(channel_id), rules.for_channel(channel_id), used
        )

    async def allow(self, actor: Actor, workspace_key: str, channel_id: str) -> ChannelOpened:
        """Open the channel to `/veo`; `EVERY_CHANNEL`: back to every channel (but those
        closed one by one)."""
        self._check_authority(actor, workspace_key)
        before = (await self._rules(workspace_key)).own(channel_id).open
        wanted = None if channel_id == EVERY_CHANNEL else True
        if before is not wanted:
            await self.store.set_channel_rule(
                workspace_key, channel_id, {"open": wanted}, now=self.clock.now()
            )
        return ChannelOpened(channel_id, before is not wanted, await self._rules(workspace_key))

    async def close(self, actor: Actor, workspace_key: str, channel_id: str) -> ChannelClosed:
        """Close the channel to `/veo`; `EVERY_CHANNEL`: every channel but those allowed one
        by one."""
        self._check_authority(actor, workspace_key)
        before = (await self._rules(workspace_key)).own(channel_id).open
        if before is not False:
            await self.store.set_channel_rule(
                workspace_key, channel_id, {"open": False}, now=self.clock.now()
            )
        return ChannelClosed(channel_id, before is not False, await self._rules(workspace_key))

    async def configure(
        self,
        actor: Actor,
        workspace_key: str,
        channel_id: str,
        *,
        model: str | None = None,
        aspect: str | None = None,
        private: bool | None = None,
        daily_s: float | None = None,
        people: str | None = None,
    ) -> ChannelSet:
        """Set the given defaults of the channel (`EVERY_CHANNEL`: of every channel that does
        not say otherwise). Each value is checked first; one bad value changes nothing."""
        self._check_authority(actor, workspace_key)
        if all(value is None for value in (model, aspect, private, daily_s, people)):
            raise InvalidRequest(
                _("Give at least one setting: model, aspect, private, daily or people.")
            )
        changes: dict[str, object] = {}
        rules = await self._rules(workspace_key)
        in_force = rules.for_channel(channel_id)
        spec = self._model_in_force(in_force)
        if model is not None:
            spec = self._pick_model(model)
            changes.update(provider=spec.provider, model=spec.id)
            kept = in_force.aspect_ratio if aspect is None else None
            if kept is not None and kept not in spec.aspect_ratios:
                raise InvalidRequest(
                    _(
                        "{label} does not make {kept} videos, this channel's aspect ratio: set "
                        "an aspect it offers at the same time, or reset aspect first."
                    ).format(label=spec.label, kept=kept),
                    field="aspect_ratio",
                )
        if aspect is not None:
            aspect = aspect.strip()
            if aspect not in spec.aspect_ratios:
                offered = ", ".join(spec.aspect_ratios)
                raise InvalidRequest(
                    _("{label} makes videos in {offered}, not {aspect}.").format(
                        label=spec.label, offered=offered, aspect=aspect
                    ),
                    field="aspect_ratio",
                )
            changes["aspect_ratio"] = aspect
        if private is not None:
            changes["private"] = private
        if daily_s is not None:
            if not budget_value_ok(daily_s):
                raise InvalidRequest(
                    _("{name} must be a number from 0 to {most} seconds, not {typed}.").format(
                        name="daily", most=i18n.whole(MAX_CHANNEL_DAILY_S), typed=f"{daily_s:g}"
                    )
                )
            changes["daily_s"] = float(daily_s)
        if people is not None:
            people = people.strip().lower()
            if people not in PERSON_GENERATION:
                raise InvalidRequest(
                    _("{name} takes {choices}, not {typed}.").format(
                        name="people", choices=", ".join(PERSON_GENERATION), typed=repr(people)
                    )
                )
            changes["person_generation"] = people
        rule = await self.store.set_channel_rule(
            workspace_key, channel_id, changes, now=self.clock.now()
        )
        return ChannelSet(channel_id, rule)

    async def reset(
        self, actor: Actor, workspace_key: str, channel_id: str, settings: Sequence[str] = ()
    ) -> ChannelReset:
        """Forget the named settings of the channel, or (none named) everything said about it,
        whether it is open included."""
        self._check_authority(actor, workspace_key)
        unknown = [name for name in settings if name not in SETTINGS]
        if unknown:
            raise InvalidRequest(
                _("There is no channel setting called {typed}. Reset one of: {choices}.").format(
                    typed=repr(unknown[0]), choices=", ".join(SETTINGS)
                )
            )
        if not settings:
            changed = await self.store.clear_channel_rule(workspace_key, channel_id)
            return ChannelReset(channel_id, (), changed)
        own = (await self._rules(workspace_key)).own(channel_id)
        columns = [column for name in settings for column in _COLUMNS_OF[name]]
        changed = any(getattr(own, column) is not None for column in columns)
        if changed:
            await self.store.set_channel_rule(
                workspace_key,
                channel_id,
                dict.fromkeys(columns),
                now=self.clock.now(),
            )
        return ChannelReset(channel_id, tuple(dict.fromkeys(settings)), changed)

    # --- models ---------------------------------------------------------------------------

    def _pick_model(self, typed: str) -> ModelSpec:
        """`provider/model`, or a model id of the default provider, as `/veo` takes it; the
        catalog refuses unknown and retired models in its own words."""
        typed = typed.strip()
        provider, slash, model = typed.partition("/")
        if not (slash and provider in self.providers):
            provider, model = self.default_provider, typed
        if provider not in self.providers:
            raise InvalidRequest(
                _("The provider {provider} is not set up on this bot.").format(
                    provider=repr(provider)
                )
            )
        return self.catalog.get(provider, model)

    def _model_in_force(self, rule: ChannelRule) -> ModelSpec:
        """The model a request in the channel gets when the person picks none."""
        if rule.model is not None and rule.provider is not None:
            try:
                return self.catalog.get(rule.provider, rule.model)
            except InvalidRequest:
                pass  # retired since: the bot's default applies
        return self.catalog.get(self.default_provider, self.default_model)
