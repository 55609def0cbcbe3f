"""Channel rules: where `/veo` works in a workspace, and what each channel sets by default.

A workspace's rules are rows (`ChannelRule`), one per channel an admin named, plus one for
the whole workspace (`EVERY_CHANNEL`). A channel is open when its own row says so, closed when
its own row says so, and otherwise as the workspace's row says (open when nothing is said):
"all channels" is the default, "only a list" is `close all` then `allow` each channel, and
"all but some" is `close` on those. The other settings layer the same way, the channel's own
over the workspace's: default model and aspect ratio, private results, a daily budget in
seconds per channel (enforced by the stores inside the reservation transaction, like every
quota), and the provider's person-generation setting (Vertex AI's `personGeneration`).

Everything here is pure: the stores read and write the rows, `bot.channel_admin` checks what
admins set, and `bot.intake` applies the rules to each request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol

from bot.i18n import _, ngettext
from bot.models import GenerationRequest

# The channel id of the row that speaks for every channel of the workspace.
EVERY_CHANNEL = "*"
# Vertex AI's `personGeneration` values (docs/providers.md), the request's
# `extras["person_generation"]`.
PERSON_GENERATION = ("allow_adult", "dont_allow", "allow_all")
PERSON_GENERATION_EXTRA = "person_generation"
# What `set` and `reset` name; `model` carries its provider.
SETTINGS = ("model", "aspect", "private", "daily", "people")
MAX_CHANNEL_DAILY_S = 1_000_000

# How a person writes a yes/no setting (`private=on`), on every surface that reads one.
ON_OFF = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """What an admin said about one channel (or, `EVERY_CHANNEL`, every channel) of a
    workspace; None: nothing said, the workspace's rule (or the bot's default) applies."""

    workspace_key: str
    channel_id: str
    open: bool | None = None
    provider: str | None = None
    model: str | None = None
    aspect_ratio: str | None = None
    private: bool | None = None
    daily_s: float | None = None
    person_generation: str | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing is said: the row may as well not exist."""
        return all(
            getattr(self, field.name) is None
            for field in fields(self)
            if field.name not in ("workspace_key", "channel_id")
        )

    def over(self, base: ChannelRule) -> ChannelRule:
        """This rule with `base` filling in what it does not say."""
        said = {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) is not None
        }
        if self.model is not None:  # a model comes with its own provider
            said["provider"] = self.provider
        return replace(base, **said)


# The columns a store keeps per rule, in order (besides the workspace and channel keys).
COLUMNS = ("open", "provider", "model", "aspect_ratio", "private", "daily_s", "person_generation")


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """Every rule of one workspace, as the store holds them."""

    workspace_key: str
    rules: tuple[ChannelRule, ...] = ()

    @classmethod
    def of(cls, workspace_key: str, rules: Iterable[ChannelRule]) -> ChannelRules:
        """The workspace's rules from the store's rows."""
        return cls(workspace_key, tuple(rules))

    def own(self, channel_id: str) -> ChannelRule:
        """The channel's own row (empty when none)."""
        found = next((rule for rule in self.rules if rule.channel_id == channel_id), None)
        return found or ChannelRule(self.workspace_key, channel_id)

    @property
    def workspace(self) -> ChannelRule:
        """The row that speaks for every channel."""
        return self.own(EVERY_CHANNEL)

    def for_channel(self, channel_id: str) -> ChannelRule:
        """The rule in force in the channel: its own row over the workspace's."""
        return self.own(channel_id).over(self.workspace)

    def is_open(self, channel_id: str) -> bool:
        """Whether `/veo` works in the channel."""
        return self.for_channel(channel_id).open is not False

    @property
    def closed_by_default(self) -> bool:
        """Only the channels allowed one by one are open."""
        return self.workspace.open is False

    def opened(self) -> list[str]:
        """The channels allowed one by one, in order."""
        return sorted(
            rule.channel_id
            for rule in self.rules
            if rule.channel_id != EVERY_CHANNEL and rule.open is True
        )

    def closed(self) -> list[str]:
        """The channels closed one by one, in order."""
        return sorted(
            rule.channel_id
            for rule in self.rules
            if rule.channel_id != EVERY_CHANNEL and rule.open is False
        )


@dataclass(frozen=True, slots=True)
class ChannelBudget:
    """A channel's daily budget and what today's reservations and charges have used of it."""

    channel_key: str
    daily_s: float
    used_today_s: float


def apply(rule: ChannelRule, request: GenerationRequest) -> GenerationRequest:
    """The request with the channel's defaults filled in where the person chose nothing: the
    model (with its provider), private results, the person-generation setting. The aspect
    ratio is filled in by `aspect_for` once the model is known."""
    changes: dict[str, object] = {}
    if request.provider is None and request.model is None and rule.model is not None:
        changes.update(provider=rule.provider, model=rule.model)
    if rule.private and not request.private:
        changes["private"] = True
    if rule.person_generation is not None and PERSON_GENERATION_EXTRA not in request.extras:
        changes["extras"] = {**request.extras, PERSON_GENERATION_EXTRA: rule.person_generation}
    return request.model_copy(update=changes) if changes else request


def aspect_for(
    rule: ChannelRule, request: GenerationRequest, offered: Sequence[str]
) -> GenerationRequest:
    """The request with the channel's aspect ratio when the person chose none and the model
    offers it (a model picked by hand that lacks it keeps its own default)."""
    if request.aspect_ratio is None and rule.aspect_ratio in offered:
        return request.model_copy(update={"aspect_ratio": rule.aspect_ratio})
    return request


# Channels named in one sentence at most; the rest are counted.
_NAMED = 10


class Channels(Protocol):
    """How a surface writes a channel (`bot.texts.Markup` is one)."""

    def channel(self, channel_id: str) -> str:
        """A channel, as the platform shows it."""
        ...


def named_channels(ids: Sequence[str], markup: Channels) -> str:
    """Channels in words: "#a, #b and 3 more"."""
    named = [markup.channel(channel_id) for channel_id in ids[:_NAMED]]
    if len(ids) > _NAMED:
        more = len(ids) - _NAMED
        return ngettext("{channels} and {more} more", "{channels} and {more} more", more).format(
            channels=", ".join(named), more=more
        )
    if len(named) < 2:
        return named[0]
    return _("{items} and {last}").format(items=", ".join(named[:-1]), last=named[-1])


class _ChatChannels:
    """The one piece of markup the core's refusal needs: Discord and Slack both write a
    channel as `<#id>`, which each shows as the channel's name."""

    def channel(self, channel_id: str) -> str:
        return f"<#{channel_id}>"


def channel_closed(rules: ChannelRules) -> str:
    """The private refusal of `/veo` in a channel closed to it, saying where it works."""
    chat = _ChatChannels()
    if rules.closed_by_default:
        opened = rules.opened()
        if not opened:
            return _("/veo is switched off in every channel here.")
        return _("/veo does not work in this channel. Use it in {channels}.").format(
            channels=named_channels(opened, chat)
        )
    closed = rules.closed()
    if not closed:
        return _("/veo does not work in this channel. It works in every other channel here.")
    return _(
        "/veo does not work in this channel. It works in every other channel here except "
        "{channels}."
    ).format(channels=named_channels(closed, chat))


def budget_value_ok(value: float) -> bool:
    """A daily budget is a finite number of seconds, 0 (nothing may be made) or more."""
    return math.isfinite(value) and 0 <= value <= MAX_CHANNEL_DAILY_S
