"""The operator's admin commands at the terminal, `veo-bot quota`, `usage` and `banned`: the
same actions the chat commands offer (`bot.admin`), with the operator's word (whoever has a
shell on the bot's machine), printed for a terminal."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from bot import moderation, money, texts
from bot.admin import (
    AdminActions,
    Blocked,
    LimitsCleared,
    Subject,
    TermAllowed,
    TermBanned,
    Unblocked,
)
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
            by = " (set by a workspace admin)" if row.set_by is Authority.WORKSPACE_ADMIN else ""
            print(f"{row.scope} {printable(row.subject)}: {limits}{by}")
        for user_key in await store.blocked_users():
            print(f"blocked {printable(user_key)}")
        return EXIT_OK
    if subject is None:
        return fail(
            "say whose quota: --user PLATFORM:WORKSPACE:USER or --workspace PLATFORM:WORKSPACE",
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
        print(f"limits set for {scope} {subject}")
    elif action == "clear":
        cleared = await actions.clear_limits(operator, whose)
        done = isinstance(cleared, LimitsCleared)
        print(f"limits cleared for {scope} {subject}" if done else "no limits were set")
    elif scope != "user":
        return fail(f"{action} applies to a user (--user)", EXIT_BAD_INPUT)
    elif action == "reset-day":
        await actions.reset_day(operator, subject)
        print(f"today starts afresh for {subject}")
    else:
        outcome = await actions.set_blocked(subject, action == "block")
        changed = isinstance(outcome, Blocked | Unblocked)
        print(f"{subject} {action}ed" if changed else f"{subject} was already {action}ed")
    return EXIT_OK


async def _usage(actions: AdminActions, args: argparse.Namespace) -> int:
    report = await actions.usage(args.month, args.workspace)
    rows = report.rows
    if args.png:
        chart = await actions.usage_chart(args.month, args.workspace)
        await asyncio.to_thread(Path(args.png).write_bytes, chart.png)
        print(f"chart of {chart.month} written to {printable(args.png)}")
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
        print("no usage in that month")
        return EXIT_OK
    print(f"{'user':40}  {'jobs':>4}  {'seconds':>8}  {'in flight':>9}  {'spent':>10}  refunded")
    for row in rows[: args.top]:
        print(
            f"{printable(row.user_key):40}  {row.jobs:>4}  {row.settled_s:>8g}  "
            f"{row.reserved_s:>9g}  {money.fmt(row.settled_micro_usd):>10}  "
            f"{row.refunded_jobs}"
        )
    print(f"total: {report.total_s:g} s ≈ {texts.spent(report.total_micro_usd)}")
    return EXIT_OK


async def _banned(actions: AdminActions, args: argparse.Namespace) -> int:
    if args.action == "list":
        for listed in (await actions.banned_terms(args.workspace)).terms:
            flag = "" if listed.enforced else f"  ({moderation.NOT_ENFORCED})"
            print(printable(listed.term) + flag)
        return EXIT_OK
    if not args.term:
        return fail(f"give the word or re:pattern to {args.action}", EXIT_BAD_INPUT)
    outcome = await actions.set_banned(args.workspace, args.term, args.action == "add")
    changed = isinstance(outcome, TermBanned | TermAllowed)
    verb = "banned" if args.action == "add" else "allowed again"
    print(f"{verb} in {args.workspace}" if changed else "nothing to change")
    return EXIT_OK
