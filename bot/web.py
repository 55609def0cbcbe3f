"""The bot's own web server (aiohttp): health, signed media links for providers, provider
callbacks; chat adapters mount their routes (Slack events) here too."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.clock import Clock, SystemClock
from bot.i18n import _
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.metrics import Labels
from bot.models import JobState, MediaRole
from bot.ports import Store
from bot.shared_files import kept_name
from bot.webhooks import InvalidSignature

log = logging.getLogger(__name__)

STORE_KEY = web.AppKey("store", Store)
CHECKS_KEY = web.AppKey("checks", dict[str, Callable[[], bool]])
# Named parts of this replica's /healthz that report without deciding health: each callable
# gives a JSON value; a dict is spread as `<name>_<key>` (Discord: `discord_shards`).
PARTS_KEY = web.AppKey("parts", dict[str, Callable[[], object]])
LINKS_KEY = web.AppKey("links", MediaLinks)
SERVICE_KEY = web.AppKey("service", JobService)
MAX_CALLBACK_BYTES = 256 * 1024
# /metrics and /healthz read the database at most this often, however often they are asked.
SCRAPE_CACHE_S = 5.0
# How long /healthz waits for the database to answer before calling it unreachable.
PING_TIMEOUT_S = 2.0
T = TypeVar("T")


class RecentReading(Generic[T]):
    """A value read at most once per `ttl_s`: callers meanwhile, concurrent ones included,
    share the last reading, so a flood of scrapes costs the one reader connection one query."""

    def __init__(self, read: Callable[[], Awaitable[T]], clock: Clock, ttl_s: float) -> None:
        self._read = read
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._reading: tuple[float, T] | None = None

    async def get(self) -> T:
        """The last reading, or a new one once it is older than `ttl_s`."""
        async with self._lock:
            now = self._clock.now()
            if self._reading is None or now - self._reading[0] >= self._ttl_s:
                self._reading = (now, await self._read())
            return self._reading[1]


JOBS_GAUGE_KEY = web.AppKey("jobs_gauge", RecentReading[dict[JobState, int]])
DATABASE_UP_KEY = web.AppKey("database_up", RecentReading[bool])


async def provider_callback(request: web.Request) -> web.Response:
    """`POST /callbacks/{provider}/{job_id}?token=...`: a provider's word that a job changed.

    The token is an HMAC of the job id and the token's expiry (constant-time check); the
    body is only parsed to refuse garbage, never trusted: the job is re-fetched from the
    provider, at most once per poll interval however often a callback is replayed."""
    service = request.app[SERVICE_KEY]
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        _rejected(service, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_CALLBACK_BYTES, actual_size=request.content_length
        )
    job = await service.get_job(request.match_info["job_id"])
    if job is None or job.provider != request.match_info["provider"]:
        _rejected(service, "unknown_job")
        raise web.HTTPNotFound
    refusal = request.app[LINKS_KEY].callback_refusal(job.id, request.query.get("token", ""))
    if refusal is not None:
        log.warning("callback for job %s refused: %s", job.id, refusal)
        _rejected(service, refusal)
        if refusal == "expired_token":
            raise web.HTTPGone(text="This callback URL has expired.")
        raise web.HTTPUnauthorized
    # Only a caller holding the token gets its body read.
    body = await _read_capped(request, MAX_CALLBACK_BYTES)
    if body is None:
        _rejected(service, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_CALLBACK_BYTES, actual_size=MAX_CALLBACK_BYTES + 1
        )
    try:
        json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        _rejected(service, "malformed")
        raise web.HTTPBadRequest(text="body is not JSON") from None
    provider = service.providers.get(job.provider)
    if provider is not None:
        try:
            await provider.verify_callback(request.headers, body, now=service.clock.now())
        except InvalidSignature as exc:
            log.warning("callback for job %s without a valid provider signature: %s", job.id, exc)
            _rejected(service, "bad_signature")
            raise web.HTTPUnauthorized from None
    outcome = await service.on_callback(job)
    service.metrics.count(
        "veo_webhooks_accepted_total", "Provider callbacks accepted.", outcome=outcome
    )
    return web.json_response({"ok": True, "job": job.id, "outcome": outcome})


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The whole body, or None when it is longer than `cap`. One `read(n)` returns only what
    has arrived, e.g. the first chunk of a chunked body, so read until the end."""
    body = bytearray()
    while chunk := await request.content.read(cap + 1 - len(body)):
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


def _rejected(service: JobService, reason: str) -> None:
    service.metrics.count(
        "veo_webhooks_rejected_total", "Provider callbacks refused.", reason=reason
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: jobs by state, provider latency, callbacks, quota refusals, deliveries."""
    service = request.app[SERVICE_KEY]
    by_state = await request.app[JOBS_GAUGE_KEY].get()
    jobs: dict[Labels, float] = {
        (("state", state.value),): float(by_state.get(state, 0)) for state in JobState
    }
    text = service.metrics.render([("veo_jobs", "Jobs in the database by state.", jobs)])
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def healthz(request: web.Request) -> web.Response:
    """This replica's health: 200 when the database answers within PING_TIMEOUT_S (asked at
    most once per SCRAPE_CACHE_S) and every chat adapter is connected, 503 otherwise; with
    this replica's worker id and the named parts (PARTS_KEY: `discord_shards`, the shards
    this replica holds)."""
    healthy = await request.app[DATABASE_UP_KEY].get()
    report: dict[str, object] = {"database": "ok" if healthy else "unreachable"}
    for name, check in request.app[CHECKS_KEY].items():
        ok = check()
        report[name] = "ok" if ok else "down"
        healthy = healthy and ok
    if SERVICE_KEY in request.app:
        report["worker"] = request.app[SERVICE_KEY].config.worker_id
    for name, part in request.app[PARTS_KEY].items():
        value = part()
        if isinstance(value, dict):
            report.update({f"{name}_{key}": item for key, item in value.items()})
        else:
            report[name] = value
    report["status"] = "ok" if healthy else "degraded"
    return web.json_response(report, status=200 if healthy else 503)


async def media(request: web.Request) -> web.StreamResponse:
    """A job's input image, for providers that fetch images by URL; signed and short-lived."""
    job_id = request.match_info["job_id"]
    role = request.match_info["role"]
    try:
        position = int(request.match_info["position"])
        expires = int(request.query.get("expires", ""))
        media_role = MediaRole(role)
    except ValueError:
        raise web.HTTPNotFound from None
    signature = request.query.get("signature", "")
    if not request.app[LINKS_KEY].verify(job_id, role, position, expires, signature):
        raise web.HTTPForbidden
    store = request.app[STORE_KEY]
    job = await store.get_job(job_id)
    blobs = await store.load_media(job_id)
    data = blobs.get((media_role, position))
    if job is None or data is None:
        raise web.HTTPNotFound
    mime = next(
        (img.mime for r, p, img in job.request.media() if (r, p) == (media_role, position)),
        "application/octet-stream",
    )
    return web.Response(body=data, content_type=mime, headers={"Cache-Control": "private"})


async def result(request: web.Request) -> web.StreamResponse:
    """`GET /results/{job_id}.mp4?expires=&signature=`: a video too large to upload even
    re-encoded, behind the signed, expiring link posted in its thread, until it expires or
    the video is deleted. Streamed from the database (any replica has it), or from disk for a
    video kept before results were stored there."""
    service = request.app[SERVICE_KEY]
    job_id = request.match_info["job_id"]
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        raise web.HTTPNotFound from None
    signature = request.query.get("signature", "")
    if not request.app[LINKS_KEY].verify_result(job_id, expires, signature):
        if expires < service.clock.now():
            raise web.HTTPGone(text=_("This link has expired."))
        raise web.HTTPForbidden
    if await service.store.result_revoked(job_id):
        raise web.HTTPGone(text=_("This video was deleted."))
    headers = {
        "Content-Type": "video/mp4",
        "Content-Disposition": f'inline; filename="veo-{job_id}.mp4"',
        "Cache-Control": "private",
    }
    if job_id.isalnum() and (size := await service.store.blob_size(kept_name(job_id))):
        return await _stream_blob(request, service.store, kept_name(job_id), size, headers)
    path = service.config.results_dir / f"{job_id}.mp4"
    if not job_id.isalnum() or not path.is_file():
        raise web.HTTPNotFound
    return web.FileResponse(path, headers=headers)


async def _stream_blob(
    request: web.Request, store: Store, name: str, size: int, headers: dict[str, str]
) -> web.StreamResponse:
    """A file in the database, streamed a row at a time: any replica serves any result."""
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    chunks = store.read_blob(name)
    try:
        first = await anext(chunks)
    except (FileNotFoundError, StopAsyncIteration):
        raise web.HTTPNotFound from None  # deleted between the two reads
    await response.prepare(request)
    await response.write(first)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except FileNotFoundError:
        log.warning("result %s went away while it was sent", name)
        raise  # the connection is cut short: the client sees a truncated body, not a video
    await response.write_eof()
    return response


class PathOnlyAccessLogger(AbstractAccessLogger):
    """The access log without query strings: they carry link signatures and callback tokens,
    and a log is read by more people than the secret should be. No Referer either, which
    can hold someone's signed URL. The path stays percent-encoded, so it cannot forge lines."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one request: address, method, path, status, size, time and user agent."""
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.3fs "%s"',
            request.remote or "-",
            request.method,
            request.rel_url.raw_path,
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
            request.headers.get("User-Agent", "-"),
        )

    @property
    def enabled(self) -> bool:
        """Whether access lines are logged at all (INFO enabled)."""
        return self.logger.isEnabledFor(logging.INFO)


class DatabasePing:
    """Whether the database answers within `timeout_s`. A ping that outlives it is not
    cancelled (a driver may hang cancelling a query on a silent connection) but left to end
    on its own, and no second one is started meanwhile: a silent database costs one pooled
    connection, and /healthz answers in `timeout_s` whatever the database does."""

    def __init__(self, store: Store, timeout_s: float) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self._ping: asyncio.Future[None] | None = None

    async def __call__(self) -> bool:
        """Whether the database answered within the timeout."""
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self._store.ping())
            self._ping.add_done_callback(_seen)
        try:
            async with asyncio.timeout(self._timeout_s):
                await asyncio.shield(self._ping)
        except Exception as exc:
            log.warning("health check: database: %s", type(exc).__name__)
            return False
        return True


def _seen(ping: asyncio.Future[None]) -> None:
    """Retrieve how a ping nobody waited for any more ended, so that nothing is logged."""
    if not ping.cancelled():
        ping.exception()


def build_web_app(
    store: Store,
    links: MediaLinks,
    checks: dict[str, Callable[[], bool]] | None = None,
    *,
    service: JobService | None = None,
    clock: Clock | None = None,
    parts: Mapping[str, Callable[[], object]] | None = None,
    ping_timeout_s: float = PING_TIMEOUT_S,
) -> web.Application:
    """The bot's web server: health, metrics, signed media and result links, provider callbacks."""
    app = web.Application(client_max_size=1024 * 1024)
    clock = clock or (service.clock if service is not None else SystemClock())
    app[STORE_KEY] = store
    app[DATABASE_UP_KEY] = RecentReading(DatabasePing(store, ping_timeout_s), clock, SCRAPE_CACHE_S)
    app[PARTS_KEY] = dict(parts or {})
    app[LINKS_KEY] = links
    app[CHECKS_KEY] = dict(checks or {})
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/media/{job_id}/{role}/{position}", media)
    if service is not None:
        app[SERVICE_KEY] = service
        app[JOBS_GAUGE_KEY] = RecentReading(service.store.count_by_state, clock, SCRAPE_CACHE_S)
        app.router.add_post("/callbacks/{provider}/{job_id}", provider_callback)
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/results/{job_id}.mp4", result)
    return app
