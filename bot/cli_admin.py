"""The operator's admin commands at the terminal, `veo-bot quota`, `usage` and `banned`: the
same actions the chat commands offer (`bot.admin`), with the operator's word (whoever has a
shell on the bot's machine), printed for a terminal."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from bot import i18n, moderation, money, texts
from bot.admin import (
    AdminActions,
    Blocked,
    LimitsCleared,
    Subject,
    TermAllowed,
    TermBanned,
    Unblocked,
)
from bot.i18n import _
from bot.models import Actor, Authority
from bot.ports import Store
from bot.terminal import EXIT_BAD_INPUT, EXIT_OK, fail, printable


async def run(
    args: argparse.Namespace, actions: AdminActions, store: Store, operator: Actor
) -> int:
    """`quota`, `usage` or `banned`, as `args` say; the exit code."""
    if args.command == "usage":
        return await _usage(actions, args)
    if args.command == "banned":
        return await _banned(actions, args)
    return await _quota(actions, store, args, operator)


async def _quota(
    actions: AdminActions, store: Store, args: argparse.Namespace, operator: Actor
) -> int:
    scope, subject = ("user", args.user) if args.user else ("workspace", args.workspace)
    action = args.action
    if action == "show":
        for row in await store.overrides():
            limits = ", ".join(
                [
                    f"{name} {value:g}"
                    for name, value in (
                        ("daily", row.daily_s),
                        ("concurrent", row.concurrent),
                        ("monthly", row.monthly_s),
                    )
                    if value is not None
                ]
                + [
                    f"{name} {money.usd_of(value)}"
                    for name, value in (
                        ("daily-usd", row.daily_micro_usd),
                        ("monthly-usd", row.monthly_micro_usd),
                    )
                    if value is not None
                ]
            )
            line = (
                _("{scope} {subject}: {limits} (set by a workspace admin)")
                if row.set_by is Authority.WORKSPACE_ADMIN
                else _("{scope} {subject}: {limits}")
            )
            print(
                line.format(scope=_scope(row.scope), subject=printable(row.subject), limits=limits)
            )
        for user_key in await store.blocked_users():
            print(_("blocked {user}").format(user=printable(user_key)))
        return EXIT_OK
    if subject is None:
        return fail(
            _("say whose quota: --user PLATFORM:WORKSPACE:USER or --workspace PLATFORM:WORKSPACE"),
            EXIT_BAD_INPUT,
        )
    whose = Subject.user(subject) if scope == "user" else Subject.workspace(subject)
    if action == "set":
        await actions.set_limits(
            operator,
            whose,
            daily_s=args.daily,
            concurrent=args.concurrent,
            monthly_s=args.monthly,
            daily_usd=args.daily_usd,
            monthly_usd=args.monthly_usd,
        )
        print(_("limits set for {scope} {subject}").format(scope=_scope(scope), subject=subject))
    elif action == "clear":
        cleared = await actions.clear_limits(operator, whose)
        if isinstance(cleared, LimitsCleared):
            print(
                _("limits cleared for {scope} {subject}").format(
                    scope=_scope(scope), subject=subject
                )
            )
        else:
            print(_("no limits were set"))
    elif scope != "user":
        return fail(_("{action} applies to a user (--user)").format(action=action), EXIT_BAD_INPUT)
    elif action == "reset-day":
        await actions.reset_day(operator, subject)
        print(_("today starts afresh for {user}").format(user=subject))
    else:
        outcome = await actions.set_blocked(subject, action == "block")
        changed = isinstance(outcome, Blocked | Unblocked)
        if action == "block":
            said = _("{user} blocked") if changed else _("{user} was already blocked")
        else:
            said = _("{user} unblocked") if changed else _("{user} was already unblocked")
        print(said.format(user=subject))
    return EXIT_OK


def _scope(scope: str) -> str:
    """`user` or `workspace`, in the reader's words."""
    return _("user") if scope == "user" else _("workspace")


async def _usage(actions: AdminActions, args: argparse.Namespace) -> int:
    report = await actions.usage(args.month, args.workspace)
    rows = report.rows
    if args.png:
        chart = await actions.usage_chart(args.month, args.workspace)
        await asyncio.to_thread(Path(args.png).write_bytes, chart.png)
        print(
            _("chart of {month} written to {path}").format(
                month=chart.month, path=printable(args.png)
            )
        )
        return EXIT_OK
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(
            [
                "user",
                "workspace",
                "jobs",
                "settled_s",
                "in_flight_s",
                "refunded_jobs",
                "settled_usd",
                "in_flight_usd",
            ]
        )
        for row in rows:
            writer.writerow(
                [
                    printable(row.user_key),
                    printable(row.workspace_key),
                    row.jobs,
                    f"{row.settled_s:g}",
                    f"{row.reserved_s:g}",
                    row.refunded_jobs,
                    money.usd_of(row.settled_micro_usd),
                    money.usd_of(row.reserved_micro_usd),
                ]
            )
        return EXIT_OK
    if not rows:
        print(_("no usage in that month"))
        return EXIT_OK
    print(
        f"{_('user'):40}  {_('jobs'):>4}  {_('seconds'):>8}  {_('in flight'):>9}  "
        f"{_('spent'):>10}  {_('refunded')}"
    )
    for row in rows[: args.top]:
        print(
            f"{printable(row.user_key):40}  {row.jobs:>4}  {row.settled_s:>8g}  "
            f"{row.reserved_s:>9g}  {money.fmt(row.settled_micro_usd):>10}  "
            f"{row.refunded_jobs}"
        )
    print(
        _("total: {seconds} ≈ {spent}").format(
            seconds=i18n.seconds(report.total_s), spent=texts.spent(report.total_micro_usd)
        )
    )
    return EXIT_OK


async def _banned(actions: AdminActions, args: argparse.Namespace) -> int:
    if args.action == "list":
        for listed in (await actions.banned_terms(args.workspace)).terms:
            if listed.enforced:
                print(printable(listed.term))
            else:
                print(
                    _("{term}  ({not_enforced})").format(
                        term=printable(listed.term), not_enforced=_(moderation.NOT_ENFORCED)
                    )
                )
        return EXIT_OK
    if not args.term:
        return fail(
            _("give the word or re:pattern to {action}").format(action=args.action), EXIT_BAD_INPUT
        )
    outcome = await actions.set_banned(args.workspace, args.term, args.action == "add")
    if not isinstance(outcome, TermBanned | TermAllowed):
        print(_("nothing to change"))
    elif args.action == "add":
        print(_("banned in {workspace}").format(workspace=args.workspace))
    else:
        print(_("allowed again in {workspace}").format(workspace=args.workspace))
    return EXIT_OK
