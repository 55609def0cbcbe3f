"""The composition root: builds the store, providers, surfaces, service and scheduler from
`Settings`, and runs them. With `bot.cli`, the only core module that imports `adapters` or
`storage`; it never imports a chat library itself."""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aiohttp import web

from adapters.providers import build_providers, default_catalog, default_provider
from bot import money
from bot.budget import ProviderLimits, limits_from_env
from bot.catalog import Catalog
from bot.clock import Clock, SystemClock
from bot.config import ServiceConfig
from bot.errors import ConfigurationError, InvalidRequest
from bot.i18n import _
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.live_models import LiveModels
from bot.ports import ChatSurface, ModelSource, Store, VideoProvider
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import PathOnlyAccessLogger, build_web_app
from storage import open_store

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
LISTEN_BACKLOG = 1024
# How long the web server keeps a connection that has no complete request: idle between
# requests (keep-alive), or still sending its request line and headers. aiohttp arms this
# timer when a connection opens and again after each response, and closes a connection
# whose next request head has not fully arrived when it fires: so it is the header timeout
# too, and a thousand slowloris sockets cost nothing after it. aiohttp's default is an hour.
IDLE_TIMEOUT_S = 15.0


class ChatAdapter(Protocol):
    """A chat platform as the composition root runs it: its surface for the core, a start
    that connects it (given the job service to call), and health for /healthz. It lives here,
    not among the core's ports, because it names the service that the root builds."""

    platform: str
    surface: ChatSurface

    def mount(self, app: web.Application) -> None:
        """Add the adapter's HTTP routes (e.g. Slack events) to the bot's web server."""
        ...

    async def start(self, service: JobService) -> None:
        """Connect to the platform and start answering people through `service`."""
        ...

    async def close(self) -> None:
        """Disconnect and stop answering."""
        ...

    def healthy(self) -> bool:
        """Whether the platform connection is up, for /healthz."""
        ...


@runtime_checkable
class DetailsHealth(Protocol):
    """An adapter that says more on /healthz than up or down (Discord: its shards)."""

    def health_details(self) -> dict[str, object]:
        """Keys and values for /healthz, each shown as `<platform>_<key>`."""
        ...


@dataclass
class Runtime:
    """Everything a running bot holds, built once by the composition root and closed together."""

    settings: Settings
    store: Store
    catalog: Catalog
    providers: dict[str, VideoProvider]
    links: MediaLinks
    service: JobService
    scheduler: Scheduler
    # Providers' model lists read at run time: cached ones on open; `start()` reads them anew.
    models: LiveModels

    async def aclose(self) -> None:
        """Stop taking work, let running steps finish, close providers and the database."""
        await self.models.stop()
        await self.scheduler.stop()
        for provider in self.providers.values():
            await provider.aclose()
        await self.store.close()


async def open_runtime(
    settings: Settings,
    surfaces: Mapping[str, ChatSurface],
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    sole_server: bool = False,
    owns_jobs: bool = False,
) -> Runtime:
    """Everything the bot runs on, built from `settings`. `sole_server`: this process serves
    the bot (`veo-bot run`), which a SQLite database allows one process to do at a time.
    `owns_jobs`: the jobs this process creates or adopts are stepped by it alone (`veo-bot
    try`, `veo-bot resume`), never by a server or another terminal."""
    money.set_display(settings.currency)
    store = await open_store(settings.veo_database_url, sole_server=sole_server)
    try:
        secret = (
            settings.veo_webhook_secret.get_secret_value()
            if settings.veo_webhook_secret is not None
            else await store.get_or_create_secret("webhook")
        )
        catalog = default_catalog(
            settings.gateway_dialect, vertex_extend=settings.vertex_output_gcs_uri is not None
        )
        data_dir = settings.veo_data_dir
        clock = clock or SystemClock()
        links = MediaLinks(settings.veo_public_url, secret, clock)
        providers = build_providers(settings, data_dir, links, shared=store)
        provider = settings.veo_provider or default_provider(providers, catalog)
        check_default_model(catalog, provider, settings.veo_model)
        config = ServiceConfig(
            default_provider=provider,
            default_model=settings.veo_model,
            limits=settings.quota_limits,
            work_dir=data_dir / "downloads",
            poll_interval_s=settings.veo_poll_interval_s,
            job_timeout_s=settings.veo_job_timeout_s,
            retention_s=settings.veo_retention_days * 86400,
            commands_per_minute=settings.veo_user_commands_per_minute,
            budgets=limits_from_env(
                {name: getattr(p, "limits", ProviderLimits()) for name, p in providers.items()},
                settings.budget_overrides(),
            ),
            webhook_poll_interval_s=settings.veo_webhook_poll_interval_s,
            owns_jobs=owns_jobs,
        )
        service = JobService(
            store=store,
            catalog=catalog,
            providers=providers,
            surfaces=surfaces,
            config=config,
            clock=clock,
            rng=rng,
            links=links,
        )
        sources = {n: p for n, p in providers.items() if isinstance(p, ModelSource)}
        models = LiveModels(catalog, sources, data_dir / "models", clock)
        await models.load_cached()
    except BaseException:
        await store.close()
        raise
    return Runtime(settings, store, catalog, providers, links, service, Scheduler(service), models)


def check_default_model(catalog: Catalog, provider: str, model: str | None) -> None:
    """The default model must be one the catalog still serves: a retired VEO_MODEL (or a
    VEO_PROVIDER with no live model left) stops the start with the catalog's sentence."""
    try:
        catalog.get(provider, model)
    except InvalidRequest as refused:
        variable = "VEO_MODEL" if model is not None else "VEO_PROVIDER"
        raise ConfigurationError(f"{variable}: {refused.user_message}") from None


def missing_chat_config() -> str:
    """What to set when no chat platform is configured, for `veo-bot run` to say."""
    return _(
        "No chat platform is configured, so there is nothing to serve.\n"
        "  Discord: set DISCORD_TOKEN.\n"
        "  Slack:   set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (HTTP events at /slack/events)"
        " or SLACK_APP_TOKEN (Socket Mode).\n"
        'To try the pipeline without a chat platform: veo-bot try "a prompt"'
    )


def build_chat_adapters(settings: Settings, platforms: list[str]) -> list[ChatAdapter] | str:
    """The adapters for the configured chat platforms, or why they cannot start. Imported
    here, lazily, so that `veo-bot try` never loads a chat library."""
    adapters: list[ChatAdapter] = []
    for platform in platforms:
        try:
            module = importlib.import_module(f"adapters.{platform}")
        except ModuleNotFoundError as exc:
            if exc.name != f"adapters.{platform}":
                raise
            return _(
                "{platform} is configured, but this build of veo-bot has no adapter for it."
            ).format(platform=platform)
        adapters.append(module.create_adapter(settings))
    return adapters


async def serve(
    settings: Settings,
    adapters: Sequence[ChatAdapter],
    *,
    extra_surfaces: Mapping[str, ChatSurface] | None = None,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[int] | None = None,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
) -> None:
    """Run the web server and the scheduler until `stop` is set or SIGINT / SIGTERM arrives.
    `started` receives the port the server listens on (useful with port 0)."""
    surfaces = {adapter.platform: adapter.surface for adapter in adapters}
    surfaces.update(extra_surfaces or {})
    runtime = await open_runtime(settings, surfaces, sole_server=True)
    checks = {adapter.platform: adapter.healthy for adapter in adapters}
    parts = {
        adapter.platform: adapter.health_details
        for adapter in adapters
        if isinstance(adapter, DetailsHealth)
    }
    app = build_web_app(runtime.store, runtime.links, checks, service=runtime.service, parts=parts)
    for adapter in adapters:
        adapter.mount(app)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=PathOnlyAccessLogger,
        keepalive_timeout=idle_timeout_s,
    )
    await runner.setup()
    # A burst of Slack events opens many connections at once: a short listen queue would drop
    # SYNs, and each dropped one costs its sender a 1 s retransmit.
    site = web.TCPSite(
        runner, settings.veo_http_host, settings.veo_http_port, backlog=LISTEN_BACKLOG
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        await runtime.scheduler.start()
        await runtime.models.start()
        for adapter in adapters:
            await adapter.start(runtime.service)
        port = runner.addresses[0][1] if runner.addresses else settings.veo_http_port
        log.info(
            "veo-bot serving on %s:%s with providers %s",
            settings.veo_http_host,
            port,
            ", ".join(sorted(runtime.providers)),
        )
        if started is not None:
            started.set_result(port)
        await stop.wait()
        log.info("shutting down: finishing running steps; unfinished jobs resume on restart")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        # Stop taking work (HTTP first), let running steps finish while the chat adapters
        # can still post, then close the adapters, the providers and the database.
        await runner.cleanup()
        await runtime.scheduler.stop()
        for adapter in adapters:
            await adapter.close()
        await runtime.aclose()
