"""`veo-bot channel list|show|allow|close|set|reset`: the channel rules at the terminal, with
the operator's word (whoever has a shell on the bot's machine), in the same words the chat
commands answer with (`bot.texts`), written for a terminal."""

from __future__ import annotations

import argparse
import re

from bot import texts
from bot.channel_admin import ChannelActions, ChannelOutcome
from bot.channels import EVERY_CHANNEL, ON_OFF, PERSON_GENERATION, SETTINGS
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import Actor
from bot.terminal import EXIT_OK, printable
from bot.terminal_markup import TERMINAL

WORKSPACE = re.compile(r"[a-z]+:[^:\s]+")


def workspace_looks_like(typed: str) -> str:
    """Refusal of a workspace not written PLATFORM:WORKSPACE."""
    return _("A workspace looks like slack:T0123 or discord:1234, not {typed}.").format(
        typed=repr(typed)
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`veo-bot channel …` and its options."""
    channel = commands.add_parser(
        "channel", help=_("where /veo works, and each channel's defaults")
    )
    channel.add_argument("action", choices=("list", "show", "allow", "close", "set", "reset"))
    channel.add_argument(
        "channel", nargs="?", help=_("the channel's id on its platform, or `all` (every channel)")
    )
    channel.add_argument(
        "--workspace", required=True, help=_("PLATFORM:WORKSPACE, e.g. slack:T0123")
    )
    channel.add_argument("--model", help=_("default model: provider/model, or a default one's id"))
    channel.add_argument("--aspect", help=_("default aspect ratio (one the model offers)"))
    channel.add_argument("--private", help=_("on: results go to the requester alone; off: public"))
    channel.add_argument("--daily", type=float, help=_("seconds of video a day for the channel"))
    channel.add_argument(
        "--people",
        help=_("person generation: {settings}").format(settings=", ".join(PERSON_GENERATION)),
    )
    channel.add_argument(
        "--only",
        nargs="+",
        default=(),
        metavar="SETTING",
        help=_("reset only these: {settings}").format(settings=", ".join(SETTINGS)),
    )


async def run(args: argparse.Namespace, actions: ChannelActions, operator: Actor) -> int:
    """The channel command `args` name, done as the operator; prints what it did."""
    outcome = await _act(args, actions, operator)
    for line in texts.channel_answer(outcome, TERMINAL).splitlines():
        print(printable(line))
    return EXIT_OK


async def _act(args: argparse.Namespace, actions: ChannelActions, by: Actor) -> ChannelOutcome:
    workspace = args.workspace
    if not WORKSPACE.fullmatch(workspace):
        raise InvalidRequest(workspace_looks_like(workspace))
    if args.action == "list":
        return await actions.listing(workspace)
    if not args.channel:
        raise InvalidRequest(
            _("Name the channel to {action} (its id, or all).").format(action=args.action)
        )
    where = EVERY_CHANNEL if args.channel.lower() == "all" else args.channel
    if args.action == "show":
        return await actions.show(workspace, where)
    if args.action == "allow":
        return await actions.allow(by, workspace, where)
    if args.action == "close":
        return await actions.close(by, workspace, where)
    if args.action == "reset":
        return await actions.reset(by, workspace, where, list(args.only))
    private = None
    if args.private is not None:
        if args.private.lower() not in ON_OFF:
            raise InvalidRequest(texts.on_or_off("private", args.private))
        private = ON_OFF[args.private.lower()]
    return await actions.configure(
        by,
        workspace,
        where,
        model=args.model,
        aspect=args.aspect,
        private=private,
        daily_s=args.daily,
        people=args.people,
    )
