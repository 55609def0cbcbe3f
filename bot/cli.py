"""The `veo-bot` command: `try` a request in the terminal, `run` the bot, list `jobs` and
`models`, `cancel` a job, check the providers with `doctor`, and the admin commands (`quota`,
`usage`, `banned`, printed by `bot.cli_admin`; `channel`, by `bot.cli_channels`). Part of the
composition root: it builds `Settings` once and passes them on."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from adapters.console import ConsoleSurface, console_origin
from adapters.providers import build_providers, default_catalog, default_provider
from bot import app, checkup, cli_admin, cli_channels, texts
from bot.admin import AdminActions
from bot.channel_admin import ChannelActions
from bot.clock import SystemClock
from bot.errors import (
    ConfigurationError,
    InvalidRequest,
    QuotaExceeded,
    UserFacingError,
    reply_to,
)
from bot.history import history_page
from bot.jobs import UNDELIVERABLE_SENT_PRIVATELY, UNDELIVERED
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import Actor, GenerationRequest, ImageInput, JobState
from bot.settings import Settings
from bot.terminal import (
    EXIT_BAD_INPUT,
    EXIT_CONFIG,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNHEALTHY,
    fail,
    printable,
)
from bot.terminal_markup import TERMINAL
from storage import migrate, open_store, shown

# Whoever has a shell on the bot's machine runs it: the CLI speaks as the operator.
OPERATOR = Actor.operator()


def _load_settings() -> Settings | int:
    try:
        return Settings()
    except ValidationError as exc:
        # Name the variable and the rule, never the value: it may be a secret.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        return fail(f"bad configuration: {problems}", EXIT_CONFIG)


def _read_image(path: str | None) -> ImageInput | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest(f"There is no file at {path}.", field="image")
    return load_image(file.read_bytes(), filename=file.name)


async def _try(args: argparse.Namespace, settings: Settings) -> int:
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        provider=args.provider,
        model=args.model,
        duration_s=args.duration,
        aspect_ratio=args.aspect_ratio,
        seed=args.seed,
        first_frame=_read_image(args.image),
        last_frame=_read_image(args.end_image),
        private=args.private,
    )
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface}, owns_jobs=True)
    try:
        await runtime.models.refresh()  # a model a provider added today is offered today
        origin = console_origin(Path(args.out), args.user or getpass.getuser())
        job = await runtime.service.submit(request, origin)
        await runtime.scheduler.start()
        try:
            done = await runtime.service.wait_until_done(job.id)
        except asyncio.CancelledError:
            print(
                f"\nveo-bot: interrupted; job {job.id} is saved, and `veo-bot resume {job.id}` "
                "on this database finishes it.",
                file=sys.stderr,
            )
            raise
    finally:
        await runtime.aclose()
    if done.state is JobState.DELIVERED and done.delivery_refs:
        print(done.delivery_refs.path)
        return EXIT_OK
    return EXIT_JOB_FAILED


async def _resume(args: argparse.Namespace, settings: Settings) -> int:
    """Adopt unfinished `try` jobs whose process is gone (the ones named, or every one), finish
    them, then exit. A job whose process still runs stays its own."""
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface}, owns_jobs=True)
    try:
        if args.job:
            candidates = []
            for job_id in args.job:
                job = await runtime.store.get_job(job_id)
                if job is None or job.origin.platform != surface.platform:
                    unknown = f"There is no `veo-bot try` job {printable(job_id)}."
                    return fail(unknown, EXIT_BAD_INPUT)
                if job.state.is_terminal:
                    print(f"job {job.id} has already ended: {job.state}", file=sys.stderr)
                    continue
                candidates.append(job)
        else:
            candidates = [
                job
                for job in await runtime.store.recent_jobs(100_000)
                if not job.state.is_terminal and job.origin.platform == surface.platform
            ]
        adopted: list[str] = []
        busy = False
        for job in candidates:
            taken = await runtime.service.adopt_orphan(job)
            if taken is None:
                busy = True
                print(
                    f"job {job.id} is being made by another running `veo-bot try` "
                    f"({printable(job.owner or '?')}); it stays with that process",
                    file=sys.stderr,
                )
            else:
                adopted.append(taken.id)
        if not adopted:
            if not busy:
                print("nothing to finish", file=sys.stderr)
            return EXIT_REFUSED if busy and args.job else EXIT_OK
        await runtime.scheduler.start()
        done = await asyncio.gather(*(runtime.service.wait_until_done(i) for i in adopted))
    finally:
        await runtime.aclose()
    for job in done:
        if job.state is JobState.DELIVERED and job.delivery_refs:
            print(job.delivery_refs.path)
    return EXIT_OK if all(job.state is JobState.DELIVERED for job in done) else EXIT_JOB_FAILED


# Jobs whose video was made but refused where it was asked for: why, before where it lies.
_KEPT_BECAUSE = {
    UNDELIVERED: "made but not delivered",
    UNDELIVERABLE_SENT_PRIVATELY: "not posted where asked, sent by DM",
}


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.veo_database_url)
    try:
        jobs = await store.recent_jobs(args.limit)
    finally:
        await store.close()
    if not jobs:
        print("no jobs yet")
        return EXIT_OK
    print(
        f"{'id':12}  {'created (UTC)':16}  {'state':10}  {'%':>3}  {'model':14}  {'s':>3}  prompt"
    )
    for job in jobs:
        created = datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        prompt = printable(job.request.prompt.replace("\n", " "))
        prompt = prompt if len(prompt) <= 40 else prompt[:39] + "…"
        print(
            f"{job.id:12}  {created:16}  {job.state:10}  {job.progress:>3}  {job.model:14}  "
            f"{job.request.duration_s or 0:>3}  {prompt}"
        )
        kept = _KEPT_BECAUSE.get(job.error_code or "")
        if kept is not None and job.delivery_refs and job.delivery_refs.path:
            print(f"{'':12}  {kept}; the video is at {printable(job.delivery_refs.path)}")
    return EXIT_OK


def _user_key(user: str) -> str:
    """`PLATFORM:WORKSPACE:USER` as given, or a bare name: a `veo-bot try` user."""
    return user if user.count(":") >= 2 else console_origin(Path("."), user).user_key


async def _history(args: argparse.Namespace, settings: Settings) -> int:
    """A person's videos, newest first, a page at a time: the words `/veo-history` shows."""
    user_key = _user_key(args.user or getpass.getuser())
    store = await open_store(settings.veo_database_url)
    try:
        page = await history_page(store, user_key, cursor=args.before, size=args.limit)
    finally:
        await store.close()
    if not page.jobs:
        print(texts.history_no_more() if args.before else texts.history_empty(TERMINAL))
        return EXIT_OK
    for job in page.jobs:
        print(texts.history_entry(job, TERMINAL))
    if page.next_cursor is not None:
        user = printable(args.user or getpass.getuser())
        print(f"older: veo-bot history --user {user} --before {page.next_cursor}")
    return EXIT_OK


async def _info(args: argparse.Namespace, settings: Settings) -> int:
    """A job's parameters, as the Info button shows them (the operator sees private ones)."""
    store = await open_store(settings.veo_database_url)
    try:
        job = await store.get_job(args.job)
    finally:
        await store.close()
    if job is None:
        return fail(f"there is no job {printable(args.job)}", EXIT_BAD_INPUT)
    print(texts.job_info(job, TERMINAL))
    return EXIT_OK


async def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel a job as the operator: what Cancel on its card does, and what it cost."""
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface})
    try:
        said = await runtime.service.cancel(args.job, who=texts.operator())
    finally:
        await runtime.aclose()
    print(said)
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    """Bring the database's schema up to date and say what that took."""
    done = await migrate(settings.veo_database_url)
    for name in done.applied:
        print(f"applied {name}")
    where = f"{done.engine} database {printable(shown(settings.veo_database_url))}"
    if done.applied:
        print(f"{where}: now at schema version {done.version}")
    else:
        print(f"{where}: already at schema version {done.version}, nothing to apply")
    return EXIT_OK


async def _admin(args: argparse.Namespace, settings: Settings) -> int:
    """`quota`, `usage` and `banned`: the same admin actions the chat commands offer."""
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface})
    try:
        service = runtime.service
        if args.command == "channel":
            channels = ChannelActions(
                service.store,
                catalog=service.catalog,
                providers=service.providers,
                default_provider=service.config.default_provider,
                default_model=service.config.default_model,
                clock=service.clock,
            )
            return await cli_channels.run(args, channels, OPERATOR)
        actions = AdminActions(service.store, defaults=service.config.limits, clock=service.clock)
        return await cli_admin.run(args, actions, runtime.store, OPERATOR)
    finally:
        await runtime.aclose()


def _models(args: argparse.Namespace) -> int:
    """The live models; with --all the retired ones too, marked with their date."""
    catalog = default_catalog()
    providers = [args.provider] if args.provider else catalog.providers()
    for line in checkup.model_lines(catalog, providers, retired=args.all):
        print(line)
    return EXIT_OK


async def _doctor(settings: Settings) -> int:
    """One cheap authenticated call per configured provider, and a line for each."""
    catalog = default_catalog(settings.gateway_dialect)
    # Health calls sign nothing: the links' key is a throwaway one, not the stored secret.
    links = MediaLinks(settings.veo_public_url, secrets.token_hex(32), SystemClock())
    providers = build_providers(settings, settings.veo_data_dir, links)
    default = settings.veo_provider or default_provider(providers, catalog)
    try:
        healthy, lines = await checkup.doctor(catalog, providers, default, settings.veo_model)
    finally:
        for provider in providers.values():
            await provider.aclose()
    for line in lines:
        print(line)
    return EXIT_OK if healthy else EXIT_UNHEALTHY


async def _run(settings: Settings) -> int:
    platforms = settings.chat_platforms()
    if not platforms:
        return fail(app.missing_chat_config(), EXIT_CONFIG)
    adapters = app.build_chat_adapters(settings, platforms)
    if isinstance(adapters, str):
        return fail(adapters, EXIT_CONFIG)
    # Console jobs without an owner (from before owners existed) are finished by servers too;
    # a `veo-bot try` job is its own process's, or `veo-bot resume`'s once that is gone.
    await app.serve(settings, adapters, extra_surfaces={"console": ConsoleSurface()})
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The `veo-bot` command line: its subcommands and their options."""
    parser = argparse.ArgumentParser(
        prog="veo-bot", description="AI video from chat: /veo in Discord and Slack."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the bot: web server, scheduler, chat adapters")
    run.set_defaults(command="run")

    try_ = commands.add_parser("try", help="make one video from the terminal")
    try_.add_argument("prompt", help="what should happen in the video")
    try_.add_argument("--image", help="first frame to animate (PNG, JPEG or WebP)")
    try_.add_argument("--end-image", help="last frame to end on")
    try_.add_argument("--model", help="model id (see `veo-bot models`)")
    try_.add_argument("--duration", type=int, help="seconds of video")
    try_.add_argument("--aspect-ratio", help="16:9, 9:16, 1:1 (what the model offers)")
    try_.add_argument("--seed", type=int, help="seed for a reproducible result")
    try_.add_argument("--negative-prompt", help="what to keep out of the video")
    try_.add_argument("--provider", help="provider (default: VEO_PROVIDER)")
    try_.add_argument("--user", help="whose quota to charge (default: your login)")
    try_.add_argument("--out", default="out", help="folder for the MP4 (default: ./out)")
    try_.add_argument("--private", action="store_true", help="a private result (as in chat)")

    resume = commands.add_parser(
        "resume",
        help="finish unfinished `try` jobs whose process is gone (after a crash), then exit",
    )
    resume.add_argument("job", nargs="*", help="job ids (default: every orphaned one)")

    commands.add_parser(
        "migrate",
        help="bring the database's schema up to date, then exit (every start does it too)",
    )

    jobs = commands.add_parser("jobs", help="list recent jobs and their states")
    jobs.add_argument("--limit", type=int, default=20)

    history = commands.add_parser("history", help="one person's videos, newest first, paged")
    history.add_argument(
        "--user", help="PLATFORM:WORKSPACE:USER, or a `veo-bot try` user (default: your login)"
    )
    history.add_argument("--limit", type=int, default=10, help="videos per page")
    history.add_argument("--before", help="the cursor printed under the page before")

    info = commands.add_parser("info", help="a job's parameters, as Info shows them in chat")
    info.add_argument("job", help="the job id")

    cancel = commands.add_parser(
        "cancel", help="stop a job; refunded unless the provider already made or kept it"
    )
    cancel.add_argument("job", help="the job id")

    models = commands.add_parser("models", help="list the models in the catalog")
    models.add_argument("--provider")
    models.add_argument("--all", action="store_true", help="retired models too, with the date")

    commands.add_parser(
        "doctor", help="check every configured provider: reachable, key accepted, model live"
    )

    quota = commands.add_parser("quota", help="set, clear or reset quotas; block users")
    quota.add_argument("action", choices=("show", "set", "clear", "reset-day", "block", "unblock"))
    who = quota.add_mutually_exclusive_group()
    who.add_argument("--user", help="PLATFORM:WORKSPACE:USER, e.g. discord:1234:5678")
    who.add_argument("--workspace", help="PLATFORM:WORKSPACE, e.g. slack:T0123")
    quota.add_argument("--daily", type=float, help="seconds per UTC day")
    quota.add_argument("--concurrent", type=int, help="jobs in flight")
    quota.add_argument("--monthly", type=float, help="seconds per month (workspace)")
    quota.add_argument("--daily-usd", help="US dollars per UTC day per person (0: no limit)")
    quota.add_argument("--monthly-usd", help="US dollars per month for the workspace (0: no limit)")

    usage = commands.add_parser("usage", help="seconds and money used per user this month")
    usage.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    usage.add_argument("--workspace", help="PLATFORM:WORKSPACE (default: all)")
    usage.add_argument("--top", type=int, default=20, help="rows to show (not with --csv)")
    usage.add_argument("--csv", action="store_true", help="every row, as CSV on stdout")
    usage.add_argument(
        "--png", metavar="FILE", help="draw spend per day and per person for the month to FILE"
    )

    banned = commands.add_parser("banned", help="words and patterns refused in a workspace")
    banned.add_argument("action", choices=("list", "add", "remove"))
    banned.add_argument("term", nargs="?", help="a word, a phrase, or re:<regular expression>")
    banned.add_argument("--workspace", required=True, help="PLATFORM:WORKSPACE")

    cli_channels.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `veo-bot` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO: provider result URLs are often signed (whoever
    # reads one can download the video), and some APIs take keys in the query string.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "models":
        return _models(args)
    settings = _load_settings()
    if isinstance(settings, int):
        return settings
    try:
        if args.command == "try":
            return asyncio.run(_try(args, settings))
        if args.command == "jobs":
            return asyncio.run(_jobs(args, settings))
        if args.command == "history":
            return asyncio.run(_history(args, settings))
        if args.command == "info":
            return asyncio.run(_info(args, settings))
        if args.command == "cancel":
            return asyncio.run(_cancel(args, settings))
        if args.command == "resume":
            return asyncio.run(_resume(args, settings))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "doctor":
            return asyncio.run(_doctor(settings))
        if args.command in ("quota", "usage", "banned", "channel"):
            return asyncio.run(_admin(args, settings))
        return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130
    except QuotaExceeded as exc:
        return fail(exc.user_message, EXIT_REFUSED)
    except UserFacingError as exc:
        refused = exc.code in ("blocked", "moderation", "channel_closed")
        return fail(exc.user_message, EXIT_REFUSED if refused else EXIT_BAD_INPUT)
    except ConfigurationError as exc:
        return fail(str(exc), EXIT_CONFIG)
    except Exception as exc:
        return fail(reply_to(exc, during=f"veo-bot {args.command}"), EXIT_JOB_FAILED)
