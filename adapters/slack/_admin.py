"""`/veo admin …`: quotas, blocks, banned words, the usage report and channel rules, for
admins listed in VEO_ADMINS as `slack:<user id>`. The same actions as the
`veo-bot quota|usage|banned|channel` CLI.

A channel is named as Slack writes a picked channel (`<#C123|name>`), by its id, as `here`
(where the command is typed) or `all` (every channel of the workspace)."""

from __future__ import annotations

import re
from typing import TypedDict

from adapters.slack._markup import SLACK
from bot import i18n, texts
from bot.admin import AdminActions, AdminOutcome, Subject
from bot.channel_admin import ChannelActions, ChannelOutcome
from bot.channels import EVERY_CHANNEL, ON_OFF, SETTINGS
from bot.errors import InvalidRequest
from bot.languages import Languages
from bot.models import Actor, Origin

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
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$|^([CG][A-Z0-9]+)$")


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


def _channel(token: str, here: str) -> str:
    if token.lower() == "all":
        return EVERY_CHANNEL
    if token.lower() == "here":
        return here
    match = _CHANNEL.match(token)
    if not match:
        raise InvalidRequest(texts.name_a_channel(token))
    return match.group(1) or match.group(2)


class _Settings(TypedDict, total=False):
    model: str
    aspect: str
    private: bool
    daily_s: float
    people: str


def _settings(pairs: list[str]) -> _Settings:
    """`model=… aspect=… private=on daily=120 people=…` as typed; the core checks values."""
    values = _Settings()
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in SETTINGS or not raw:
            raise InvalidRequest(texts.channel_setting_takes(pair))
        if name == "private":
            if raw.lower() not in ON_OFF:
                raise InvalidRequest(texts.on_or_off(name, raw))
            values["private"] = ON_OFF[raw.lower()]
        elif name == "daily":
            try:
                values["daily_s"] = float(raw)
            except ValueError:
                raise InvalidRequest(texts.not_a_number(name, raw)) from None
        elif name == "model":
            values["model"] = raw
        elif name == "aspect":
            values["aspect"] = raw
        else:
            values["people"] = raw
    return values


async def _act_on_channels(
    channels: ChannelActions, workspace: str, here: str, words: list[str], actor: Actor
) -> ChannelOutcome | None:
    """`admin channel …`, done; None when the words name no such action."""
    if not words:
        return None
    action, args = words[0].lower(), words[1:]
    if action == "list" and not args:
        return await channels.listing(workspace)
    where = _channel(args[0], here) if args else here
    if action == "show" and len(args) <= 1:
        return await channels.show(workspace, where)
    if action == "allow" and len(args) <= 1:
        return await channels.allow(actor, workspace, where)
    if action == "close" and len(args) <= 1:
        return await channels.close(actor, workspace, where)
    if action == "set" and args:
        values = _settings(args[1:])
        return await channels.configure(actor, workspace, where, **values)
    if action == "reset" and args:
        return await channels.reset(actor, workspace, where, [w.lower() for w in args[1:]])
    return None


def _number(value: float | str | None) -> float | None:
    return None if value is None else float(value)


async def run(
    admin: AdminActions,
    channels: ChannelActions,
    origin: Origin,
    text: str,
    actor: Actor,
    *,
    languages: Languages,
) -> str:
    """Carry out one admin command for `actor`, typed at `origin`; return what to tell the
    admin."""
    words = text.split()
    if words and words[0].lower() == "language" and len(words) <= 2:
        if len(words) == 1:
            return texts.language_shown(await languages.fixed(origin.workspace_key), SLACK)
        fixed = await languages.set(actor, origin.workspace_key, words[1])
        with i18n.using(fixed or i18n.current()):
            return texts.language_fixed(fixed, SLACK)
    if words and words[0].lower() == "channel":
        done = await _act_on_channels(
            channels, origin.workspace_key, origin.channel_id, words[1:], actor
        )
        if done is None:
            return texts.channel_commands(COMMAND, SLACK)
        return texts.channel_answer(done, SLACK)
    outcome = await _act(admin, origin.workspace_id, words, actor)
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
