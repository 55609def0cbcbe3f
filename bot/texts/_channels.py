"""Sentences about channel rules (`bot.channels`): what a channel admin command did
(`bot.channel_admin`'s outcomes), and how the commands are typed. The refusal in a closed
channel (`channel_closed`) is raised by the core, so it is written beside its rule in
`bot.channels` and re-exported here."""

from __future__ import annotations

from bot import channel_admin as ca
from bot.channels import (
    EVERY_CHANNEL,
    PERSON_GENERATION,
    SETTINGS,
    ChannelRule,
    ChannelRules,
    channel_closed,
    named_channels,
)
from bot.texts._markup import Markup, capitalised


def _channels(ids: list[str], markup: Markup) -> str:
    return named_channels(ids, markup)


def _where(channel_id: str, markup: Markup) -> str:
    if channel_id == EVERY_CHANNEL:
        return f"every channel {markup.in_this_workspace}"
    return markup.channel(channel_id)


def _settings(rule: ChannelRule, markup: Markup) -> str:
    parts = []
    if rule.model is not None:
        parts.append(f"model {markup.code(f'{rule.provider}/{rule.model}')}")
    if rule.aspect_ratio is not None:
        parts.append(f"aspect {rule.aspect_ratio}")
    if rule.private is not None:
        parts.append("results private" if rule.private else "results public")
    if rule.daily_s is not None:
        parts.append(f"{rule.daily_s:g} s a day")
    if rule.person_generation is not None:
        parts.append(f"people {rule.person_generation}")
    return ", ".join(parts)


def _where_it_works(rules: ChannelRules, markup: Markup) -> str:
    if rules.closed_by_default:
        opened = rules.opened()
        if not opened:
            return "/veo works in no channel"
        return f"/veo works only in {_channels(opened, markup)}"
    closed = rules.closed()
    everywhere = f"/veo works in every channel {markup.in_this_workspace}"
    return everywhere + (f" except {_channels(closed, markup)}" if closed else "")


def _listing(rules: ChannelRules, markup: Markup) -> str:
    lines = [_where_it_works(rules, markup) + "."]
    every = _settings(rules.workspace, markup)
    if every:
        lines.append(f"Every channel: {every}.")
    for rule in rules.rules:
        said = _settings(rule, markup)
        if rule.channel_id != EVERY_CHANNEL and said:
            lines.append(f"{markup.channel(rule.channel_id)}: {said}.")
    return "\n".join(lines)


def channel_answer(outcome: ca.ChannelOutcome, markup: Markup) -> str:
    """What a channel admin command did, for the admin who asked."""
    match outcome:
        case ca.ChannelList(rules=rules):
            return _listing(rules, markup)
        case ca.ChannelShown(channel_id=channel_id, rule=rule):
            state = "works" if outcome.open else "does not work"
            said = _settings(rule, markup) or "the bot's defaults"
            budget = (
                f" Today: {outcome.used_today_s:g} s of {rule.daily_s:g} s used."
                if rule.daily_s is not None
                else ""
            )
            return f"/veo {state} in {markup.channel(channel_id)}: {said}.{budget}"
        case ca.ChannelOpened(channel_id=channel_id, changed=changed, rules=rules):
            if channel_id == EVERY_CHANNEL:
                head = "Every channel is open again." if changed else "Every channel was open."
            elif changed:
                head = f"{markup.channel(channel_id)} is open to /veo."
            else:
                head = f"{markup.channel(channel_id)} was open already."
            return f"{head} {_where_it_works(rules, markup)}."
        case ca.ChannelClosed(channel_id=channel_id, changed=changed, rules=rules):
            if channel_id == EVERY_CHANNEL:
                head = (
                    "Every channel is closed but those you allow one by one."
                    if changed
                    else "Every channel was closed already."
                )
            elif changed:
                head = f"{markup.channel(channel_id)} is closed to /veo."
            else:
                head = f"{markup.channel(channel_id)} was closed already."
            return f"{head} {_where_it_works(rules, markup)}."
        case ca.ChannelSet(channel_id=channel_id, rule=rule):
            said = _settings(rule, markup) or "the defaults"
            return f"{capitalised(_where(channel_id, markup))}: {said}."
        case ca.ChannelReset(channel_id=channel_id, settings=settings, changed=changed):
            what = ", ".join(settings) if settings else "every rule"
            if not changed:
                return f"Nothing was set for {_where(channel_id, markup)}."
            return f"Forgot {what} for {_where(channel_id, markup)}."


def channel_commands(command: str, markup: Markup) -> str:
    """What `admin channel` takes (Slack), for an admin who typed something else."""
    forms = (
        "list",
        "show #channel",
        "allow #channel|all",
        "close #channel|all",
        "set #channel|all model=<provider/model> aspect=16:9 private=on daily=120 "
        f"people={'|'.join(PERSON_GENERATION)}",
        f"reset #channel|all [{' '.join(SETTINGS)}]",
    )
    return " · ".join(markup.code(f"{command} admin channel {form}") for form in forms)


def name_a_channel(typed: str) -> str:
    """Refusal of a channel command whose channel is not a channel."""
    return f"Name a channel as #channel (or all), not {typed!r}."


def channel_setting_takes(typed: str) -> str:
    """Refusal of a channel setting typed in a shape the command does not take."""
    return (
        f"Channel settings look like model=veo-3.1 aspect=16:9 private=on daily=120 "
        f"people=dont_allow, not {typed!r}."
    )


def on_or_off(name: str, typed: str) -> str:
    """Refusal of a yes/no setting that is neither."""
    return f"{name} takes on or off, not {typed!r}."


def not_a_number(name: str, typed: str) -> str:
    """Refusal of a number setting that is not a number."""
    return f"{name} takes a number, not {typed!r}."


__all__ = [
    "channel_answer",
    "channel_closed",
    "channel_commands",
    "channel_setting_takes",
    "name_a_channel",
    "not_a_number",
    "on_or_off",
]
