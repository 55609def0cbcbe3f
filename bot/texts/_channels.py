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
from bot.i18n import _
from bot.texts._markup import Markup, seconds


def _channels(ids: list[str], markup: Markup) -> str:
    return named_channels(ids, markup)


def _where(channel_id: str, markup: Markup) -> str:
    if channel_id == EVERY_CHANNEL:
        return _("every channel {in_this_workspace}").format(
            in_this_workspace=markup.in_this_workspace
        )
    return markup.channel(channel_id)


def _settings(rule: ChannelRule, markup: Markup) -> str:
    parts = []
    if rule.model is not None:
        parts.append(_("model {model}").format(model=markup.code(f"{rule.provider}/{rule.model}")))
    if rule.aspect_ratio is not None:
        parts.append(_("aspect {aspect_ratio}").format(aspect_ratio=rule.aspect_ratio))
    if rule.private is not None:
        parts.append(_("results private") if rule.private else _("results public"))
    if rule.daily_s is not None:
        parts.append(_("{seconds} a day").format(seconds=seconds(rule.daily_s)))
    if rule.person_generation is not None:
        parts.append(_("people {setting}").format(setting=rule.person_generation))
    return ", ".join(parts)


def _where_it_works(rules: ChannelRules, markup: Markup) -> str:
    """Where /veo works, as a whole sentence."""
    if rules.closed_by_default:
        opened = rules.opened()
        if not opened:
            return _("/veo works in no channel.")
        return _("/veo works only in {channels}.").format(channels=_channels(opened, markup))
    closed = rules.closed()
    if not closed:
        return _("/veo works in every channel {in_this_workspace}.").format(
            in_this_workspace=markup.in_this_workspace
        )
    return _("/veo works in every channel {in_this_workspace} except {channels}.").format(
        in_this_workspace=markup.in_this_workspace, channels=_channels(closed, markup)
    )


def _listing(rules: ChannelRules, markup: Markup) -> str:
    lines = [_where_it_works(rules, markup)]
    every = _settings(rules.workspace, markup)
    if every:
        lines.append(_("Every channel: {settings}.").format(settings=every))
    for rule in rules.rules:
        said = _settings(rule, markup)
        if rule.channel_id != EVERY_CHANNEL and said:
            lines.append(
                _("{channel}: {settings}.").format(
                    channel=markup.channel(rule.channel_id), settings=said
                )
            )
    return "\n".join(lines)


def channel_answer(outcome: ca.ChannelOutcome, markup: Markup) -> str:
    """What a channel admin command did, for the admin who asked."""
    match outcome:
        case ca.ChannelList(rules=rules):
            return _listing(rules, markup)
        case ca.ChannelShown(channel_id=channel_id, rule=rule):
            said = _settings(rule, markup) or _("the bot's defaults")
            shown = (
                _("/veo works in {channel}: {settings}.")
                if outcome.open
                else _("/veo does not work in {channel}: {settings}.")
            ).format(channel=markup.channel(channel_id), settings=said)
            if rule.daily_s is None:
                return shown
            return _("{shown} Today: {used} of {limit} used.").format(
                shown=shown,
                used=seconds(outcome.used_today_s),
                limit=seconds(rule.daily_s),
            )
        case ca.ChannelOpened(channel_id=channel_id, changed=changed, rules=rules):
            if channel_id == EVERY_CHANNEL:
                head = (
                    _("Every channel is open again.") if changed else _("Every channel was open.")
                )
            elif changed:
                head = _("{channel} is open to /veo.").format(channel=markup.channel(channel_id))
            else:
                head = _("{channel} was open already.").format(channel=markup.channel(channel_id))
            return _("{done} {where_it_works}").format(
                done=head, where_it_works=_where_it_works(rules, markup)
            )
        case ca.ChannelClosed(channel_id=channel_id, changed=changed, rules=rules):
            if channel_id == EVERY_CHANNEL:
                head = (
                    _("Every channel is closed but those you allow one by one.")
                    if changed
                    else _("Every channel was closed already.")
                )
            elif changed:
                head = _("{channel} is closed to /veo.").format(channel=markup.channel(channel_id))
            else:
                head = _("{channel} was closed already.").format(channel=markup.channel(channel_id))
            return _("{done} {where_it_works}").format(
                done=head, where_it_works=_where_it_works(rules, markup)
            )
        case ca.ChannelSet(channel_id=channel_id, rule=rule):
            said = _settings(rule, markup) or _("the defaults")
            if channel_id == EVERY_CHANNEL:
                return _("Every channel {in_this_workspace}: {settings}.").format(
                    in_this_workspace=markup.in_this_workspace, settings=said
                )
            return _("{channel}: {settings}.").format(
                channel=markup.channel(channel_id), settings=said
            )
        case ca.ChannelReset(channel_id=channel_id, settings=settings, changed=changed):
            if not changed:
                return _("Nothing was set for {where}.").format(where=_where(channel_id, markup))
            if not settings:
                return _("Forgot every rule for {where}.").format(where=_where(channel_id, markup))
            return _("Forgot {settings} for {where}.").format(
                settings=", ".join(settings), where=_where(channel_id, markup)
            )


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
    return _("Name a channel as #channel (or all), not {typed}.").format(typed=repr(typed))


def channel_setting_takes(typed: str) -> str:
    """Refusal of a channel setting typed in a shape the command does not take."""
    return _(
        "Channel settings look like model=veo-3.1 aspect=16:9 private=on daily=120 "
        "people=dont_allow, not {typed}."
    ).format(typed=repr(typed))


def on_or_off(name: str, typed: str) -> str:
    """Refusal of a yes/no setting that is neither."""
    return _("{name} takes on or off, not {typed}.").format(name=name, typed=repr(typed))


def not_a_number(name: str, typed: str) -> str:
    """Refusal of a number setting that is not a number."""
    return _("{name} takes a number, not {typed}.").format(name=name, typed=repr(typed))


__all__ = [
    "channel_answer",
    "channel_closed",
    "channel_commands",
    "channel_setting_takes",
    "name_a_channel",
    "not_a_number",
    "on_or_off",
]
