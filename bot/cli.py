"""The `veo-bot` command: `try` a request in the terminal, `run` the bot, list `jobs` and
`models`, `cancel` a job, check the providers with `doctor`, and the admin commands (`quota`,
`usage`, `banned`, printed by `bot.cli_admin`; `channel`, by `bot.cli_channels`). Part of the
composition root: it builds `Settings` once and passes them on."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from adapters.console import ConsoleSurface, console_origin
from adapters.providers import build_providers, default_catalog, default_provider
from bot import app, checkup, cli_admin, cli_channels, i18n, texts
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
from bot.i18n import N_, _
from bot.jobs import UNDELIVERABLE_SENT_PRIVATELY, UNDELIVERED
from bot.languages import Languages
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
from bot.variants import parse_count
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
        return fail(_("bad configuration: {problems}").format(problems=problems), EXIT_CONFIG)


def _read_image(path: str | None) -> ImageInput | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest(_("There is no file at {path}.").format(path=path), field="image")
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
        count=parse_count(args.count),
    )
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface}, owns_jobs=True)
    try:
        await runtime.models.refresh()  # a model a provider added today is offered today
        origin = console_origin(Path(args.out), args.user or getpass.getuser())
        job = await runtime.service.submit(request, origin)
        jobs = await runtime.service.takes_of(job)
        await runtime.scheduler.start()
        try:
            finished = [await runtime.service.wait_until_done(take.id) for take in jobs]
        except asyncio.CancelledError:
            print(
                _(
                    "\nveo-bot: interrupted; job {job} is saved, and `veo-bot resume {job}` on "
                    "this database finishes it."
                ).format(job=job.id),
                file=sys.stderr,
            )
            raise
    finally:
        await runtime.aclose()
    for done in finished:  # each take's file, as soon as it is there; then the verdict
        if done.state is JobState.DELIVERED and done.delivery_refs:
            print(done.delivery_refs.path)
    if all(done.state is JobState.DELIVERED and done.delivery_refs for done in finished):
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
                    unknown = _("There is no `veo-bot try` job {job}.").format(
                        job=printable(job_id)
                    )
                    return fail(unknown, EXIT_BAD_INPUT)
                if job.state.is_terminal:
                    print(
                        _("job {job} has already ended: {state}").format(
                            job=job.id, state=job.state
                        ),
                        file=sys.stderr,
                    )
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
                    _(
                        "job {job} is being made by another running `veo-bot try` ({owner}); "
                        "it stays with that process"
                    ).format(job=job.id, owner=printable(job.owner or "?")),
                    file=sys.stderr,
                )
            else:
                adopted.append(taken.id)
        if not adopted:
            if not busy:
                print(_("nothing to finish"), file=sys.stderr)
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
    UNDELIVERED: N_("made but not delivered; the video is at {path}"),
    UNDELIVERABLE_SENT_PRIVATELY: N_("not posted where asked, sent by DM; the video is at {path}"),
}


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.veo_database_url)
    try:
        jobs = await store.recent_jobs(args.limit)
    finally:
        await store.close()
    if not jobs:
        print(_("no jobs yet"))
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
            print(f"{'':12}  " + _(kept).format(path=printable(job.delivery_refs.path)))
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
        print(
            _("older: {command}").format(
                command=f"veo-bot history --user {user} --before {page.next_cursor}"
            )
        )
    return EXIT_OK


async def _info(args: argparse.Namespace, settings: Settings) -> int:
    """A job's parameters, as the Info button shows them (the operator sees private ones)."""
    store = await open_store(settings.veo_database_url)
    try:
        job = await store.get_job(args.job)
    finally:
        await store.close()
    if job is None:
        return fail(_("there is no job {job}").format(job=printable(args.job)), EXIT_BAD_INPUT)
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
        print(_("applied {migration}").format(migration=name))
    where = {"engine": done.engine, "url": printable(shown(settings.veo_database_url))}
    if done.applied:
        print(
            _("{engine} database {url}: now at schema version {version}").format(
                **where, version=done.version
            )
        )
    else:
        print(
            _(
                "{engine} database {url}: already at schema version {version}, nothing to apply"
            ).format(**where, version=done.version)
        )
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
        prog="veo-bot", description=_("AI video from chat: /veo in Discord and Slack.")
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=_("log what happens"))
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help=_("run the bot: web server, scheduler, chat adapters"))
    run.set_defaults(command="run")

    try_ = commands.add_parser("try", help=_("make one video from the terminal"))
    try_.add_argument("prompt", help=_("what should happen in the video"))
    try_.add_argument("--image", help=_("first frame to animate (PNG, JPEG or WebP)"))
    try_.add_argument("--end-image", help=_("last frame to end on"))
    try_.add_argument("--model", help=_("model id (see `veo-bot models`)"))
    try_.add_argument("--duration", type=int, help=_("seconds of video"))
    try_.add_argument("--aspect-ratio", help=_("16:9, 9:16, 1:1 (what the model offers)"))
    try_.add_argument("--seed", type=int, help=_("seed for a reproducible result"))
    try_.add_argument(
        "--count",
        help=_("how many takes of the video, 1 to 4 (default 1); take i uses seed + i"),
    )
    try_.add_argument("--negative-prompt", help=_("what to keep out of the video"))
    try_.add_argument("--provider", help=_("provider (default: VEO_PROVIDER)"))
    try_.add_argument("--user", help=_("whose quota to charge (default: your login)"))
    try_.add_argument("--out", default="out", help=_("folder for the MP4 (default: ./out)"))
    try_.add_argument("--private", action="store_true", help=_("a private result (as in chat)"))

    resume = commands.add_parser(
        "resume",
        help=_("finish unfinished `try` jobs whose process is gone (after a crash), then exit"),
    )
    resume.add_argument("job", nargs="*", help=_("job ids (default: every orphaned one)"))

    commands.add_parser(
        "migrate",
        help=_("bring the database's schema up to date, then exit (every start does it too)"),
    )

    jobs = commands.add_parser("jobs", help=_("list recent jobs and their states"))
    jobs.add_argument("--limit", type=int, default=20)

    history = commands.add_parser("history", help=_("one person's videos, newest first, paged"))
    history.add_argument(
        "--user", help=_("PLATFORM:WORKSPACE:USER, or a `veo-bot try` user (default: your login)")
    )
    history.add_argument("--limit", type=int, default=10, help=_("videos per page"))
    history.add_argument("--before", help=_("the cursor printed under the page before"))

    info = commands.add_parser("info", help=_("a job's parameters, as Info shows them in chat"))
    info.add_argument("job", help=_("the job id"))

    cancel = commands.add_parser(
        "cancel", help=_("stop a job; refunded unless the provider already made or kept it")
    )
    cancel.add_argument("job", help=_("the job id"))

    models = commands.add_parser("models", help=_("list the models in the catalog"))
    models.add_argument("--provider")
    models.add_argument("--all", action="store_true", help=_("retired models too, with the date"))

    commands.add_parser(
        "doctor", help=_("check every configured provider: reachable, key accepted, model live")
    )

    quota = commands.add_parser("quota", help=_("set, clear or reset quotas; block users"))
    quota.add_argument("action", choices=("show", "set", "clear", "reset-day", "block", "unblock"))
    who = quota.add_mutually_exclusive_group()
    who.add_argument("--user", help=_("PLATFORM:WORKSPACE:USER, e.g. discord:1234:5678"))
    who.add_argument("--workspace", help=_("PLATFORM:WORKSPACE, e.g. slack:T0123"))
    quota.add_argument("--daily", type=float, help=_("seconds per UTC day"))
    quota.add_argument("--concurrent", type=int, help=_("jobs in flight"))
    quota.add_argument("--monthly", type=float, help=_("seconds per month (workspace)"))
    quota.add_argument("--daily-usd", help=_("US dollars per UTC day per person (0: no limit)"))
    quota.add_argument(
        "--monthly-usd", help=_("US dollars per month for the workspace (0: no limit)")
    )

    usage = commands.add_parser("usage", help=_("seconds and money used per user this month"))
    usage.add_argument("--month", help=_("YYYY-MM (default: this month, UTC)"))
    usage.add_argument("--workspace", help=_("PLATFORM:WORKSPACE (default: all)"))
    usage.add_argument("--top", type=int, default=20, help=_("rows to show (not with --csv)"))
    usage.add_argument("--csv", action="store_true", help=_("every row, as CSV on stdout"))
    usage.add_argument(
        "--png", metavar="FILE", help=_("draw spend per day and per person for the month to FILE")
    )

    banned = commands.add_parser("banned", help=_("words and patterns refused in a workspace"))
    banned.add_argument("action", choices=("list", "add", "remove"))
    banned.add_argument("term", nargs="?", help=_("a word, a phrase, or re:<regular expression>"))
    banned.add_argument("--workspace", required=True, help=_("PLATFORM:WORKSPACE"))

    cli_channels.add_parser(commands)

    language = commands.add_parser(
        "language",
        help=_("the language the bot speaks in a workspace; off: each person's own"),
    )
    language.add_argument("workspace", help=_("PLATFORM:WORKSPACE, e.g. slack:T0123"))
    language.add_argument(
        "language",
        nargs="?",
        help=_("de, en, es, fr, ja, pt_BR, or off (leave out to see the setting)"),
    )
    return parser


def cli_locale(environ: Mapping[str, str]) -> str:
    """The language of the terminal's user, as POSIX reads it: LC_ALL, else LC_MESSAGES,
    else LANG (`de_DE.UTF-8`); English when none is set or the bot does not speak it."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(name):
            return i18n.negotiate_or_default(environ[name])
    return i18n.DEFAULT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `veo-bot` command, in the terminal user's language; returns the exit status."""
    with i18n.using(cli_locale(os.environ)):
        return _main(argv)


async def _language(args: argparse.Namespace, settings: Settings) -> int:
    """`veo-bot language WORKSPACE [LANGUAGE|off]`: show or fix a workspace's language."""
    if not cli_channels.WORKSPACE.fullmatch(args.workspace):
        return fail(cli_channels.workspace_looks_like(args.workspace), EXIT_BAD_INPUT)
    store = await open_store(settings.veo_database_url)
    try:
        languages = Languages(store, SystemClock())
        if args.language is None:
            print(texts.language_shown(await languages.fixed(args.workspace), TERMINAL))
            return EXIT_OK
        fixed = await languages.set(OPERATOR, args.workspace, args.language)
    finally:
        await store.close()
    print(texts.language_fixed(fixed, TERMINAL))
    return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
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
        if args.command == "language":
            return asyncio.run(_language(args, settings))
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
