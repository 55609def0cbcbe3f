"""The `veo-bot` command: `try` a request in the terminal, `run` the bot, list `jobs` and
`models`. Part of the composition root: it builds `Settings` once and passes them on."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from adapters.console import ConsoleSurface, console_origin
from bot import app
from bot.catalog import default_catalog
from bot.errors import (
    ConfigurationError,
    InvalidRequest,
    QuotaExceeded,
    UserFacingError,
    reference_id,
    unexpected_message,
)
from bot.media import load_image
from bot.models import GenerationRequest, ImageInput, JobState
from bot.settings import Settings
from storage.sqlite import SqliteStore

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_QUOTA = 3
EXIT_CONFIG = 4


def _fail(message: str, code: int) -> int:
    print(f"veo-bot: {message}", file=sys.stderr)
    return code


def _load_settings() -> Settings | int:
    try:
        return Settings()
    except ValidationError as exc:
        # Name the variable and the rule, never the value: it may be a secret.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        return _fail(f"bad configuration: {problems}", EXIT_CONFIG)


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
    )
    surface = ConsoleSurface(sys.stderr)
    runtime = await app.open_runtime(settings, {surface.platform: surface})
    try:
        origin = console_origin(Path(args.out), args.user or getpass.getuser())
        job = await runtime.service.submit(request, origin)
        await runtime.scheduler.start()
        try:
            done = await runtime.service.wait_until_done(job.id)
        except asyncio.CancelledError:
            print(
                f"\nveo-bot: interrupted; job {job.id} is saved and the next `veo-bot try` or "
                "`veo-bot run` on this database finishes it.",
                file=sys.stderr,
            )
            raise
    finally:
        await runtime.aclose()
    if done.state is JobState.DELIVERED and done.delivery_refs:
        print(done.delivery_refs["path"])
        return EXIT_OK
    return EXIT_JOB_FAILED


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    store = await SqliteStore.open(settings.database_path)
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
        prompt = job.request.prompt.replace("\n", " ")
        prompt = prompt if len(prompt) <= 40 else prompt[:39] + "…"
        print(
            f"{job.id:12}  {created:16}  {job.state:10}  {job.progress:>3}  {job.model:14}  "
            f"{job.request.duration_s or 0:>3}  {prompt}"
        )
    return EXIT_OK


def _models(args: argparse.Namespace) -> int:
    catalog = default_catalog()
    for provider in [args.provider] if args.provider else catalog.providers():
        for spec in catalog.models(provider):
            inputs = "+".join(sorted(i.value for i in spec.inputs))
            durations = ",".join(str(d) for d in spec.durations)
            print(
                f"{provider}/{spec.id}{' (default)' if spec.default else ''}: "
                f"{durations} s; {' '.join(spec.aspect_ratios)}; {'/'.join(spec.resolutions)}; "
                f"inputs {inputs}; prompt <= {spec.max_prompt_chars}"
            )
    return EXIT_OK


async def _run(settings: Settings) -> int:
    platforms = settings.chat_platforms()
    if not platforms:
        return _fail(app.missing_chat_config(), EXIT_CONFIG)
    adapters = app.build_chat_adapters(settings, platforms)
    if isinstance(adapters, str):
        return _fail(adapters, EXIT_CONFIG)
    # Console jobs (from `veo-bot try`) left unfinished are finished by the server too.
    await app.serve(settings, adapters, extra_surfaces={"console": ConsoleSurface()})
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
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

    jobs = commands.add_parser("jobs", help="list recent jobs and their states")
    jobs.add_argument("--limit", type=int, default=20)

    models = commands.add_parser("models", help="list the models in the catalog")
    models.add_argument("--provider")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
        return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130
    except QuotaExceeded as exc:
        return _fail(exc.user_message, EXIT_QUOTA)
    except UserFacingError as exc:
        return _fail(exc.user_message, EXIT_BAD_INPUT)
    except ConfigurationError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except Exception:
        ref = reference_id()
        logging.getLogger("veo-bot").exception("unexpected error (ref %s)", ref)
        return _fail(unexpected_message(ref), EXIT_JOB_FAILED)
