"""fal.ai's queue (docs/providers.md §3): Veo 3.1 in three tiers, `fal-ai/veo3.1`,
`fal-ai/veo3.1/fast` and `fal-ai/veo3.1/lite`, where the request's inputs pick the endpoint:
text goes to the model itself, a first frame to `/image-to-video`, a first and a last frame to
`/first-last-frame-to-video`, reference images to `/reference-to-video`, an earlier result to
`/extend-video`.

The submit answer names the request's status, result and cancel URLs (they drop the
endpoint's sub-path). They are kept as the provider job id and used as given, once checked to
be on the queue's own host: the key goes nowhere else. Images travel as signed links to the
bot's server when it is reachable, else as data URIs. Webhooks (`fal_webhook`) are signed with
Ed25519 against fal's published key set (JWKS), which is cached and fetched again when no key
verifies a signature, at most once a minute, so a forger cannot make the bot hammer the host.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature as BadEd25519Signature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.providers._http import ApiClient, error_message, parse_body, retry_after_s
from bot.budget import ProviderLimits, per_second
from bot.catalog import WIDE_TALL, DurationRule, InputKind, ModelSpec
from bot.errors import (
    ContentRejected,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderOutOfCredits,
    ProviderRateLimited,
    ProviderUnavailable,
)
from bot.i18n import N_, _
from bot.links import MediaLinks
from bot.models import (
    GenerationRequest,
    MediaRole,
    ProviderHealth,
    ProviderJobState,
    ProviderStatus,
)
from bot.webhooks import InvalidSignature

log = logging.getLogger(__name__)

DEFAULT_QUEUE_URL = "https://queue.fal.run"
# Both hosts serve fal's webhook keys (docs/providers.md §3.3, §9.11): the second is asked too,
# so a key published on either one verifies.
DEFAULT_JWKS_URLS = (
    "https://rest.fal.ai/.well-known/jwks.json",
    "https://rest.alpha.fal.ai/.well-known/jwks.json",
)
JWKS_MAX_AGE_S = 24 * 3600.0
# However many unverifiable callbacks arrive, the key set is fetched at most this often.
JWKS_MIN_REFRESH_S = 60.0
TOLERANCE_S = 300
# `veo-bot doctor`: the status of a request that cannot exist. fal answers 404 to a key it
# accepts and 401 / 403 to one it does not, and nothing is started or billed.
HEALTH_PROBE = "fal-ai/veo3.1/requests/00000000-0000-0000-0000-000000000000/status"

SAFETY_MESSAGE = N_(
    "fal's content checker refused this prompt or image. Try describing it differently, "
    "or use another image."
)
FAILED_MESSAGE = N_("fal could not make this video. Please try again.")
NO_OUTPUT_MESSAGE = N_("fal finished without returning a video. Please try again.")
CANCELLED_MESSAGE = N_("The video was cancelled at fal before it was made.")
MODEL_UNAVAILABLE_MESSAGE = N_(
    "This Veo model is not available at fal (it may have been retired). "
    "Pick another model, or ask an admin."
)
LAST_FRAME_ALONE_MESSAGE = N_(
    "Veo needs a first frame to go with a last frame: attach both, or only a first frame."
)
_SAFETY_WORDS = ("content_policy", "content policy", "flagged", "safety", "nsfw")
_CANCELLED_TYPES = ("client_cancelled", "request_cancelled")


@dataclass(frozen=True, slots=True)
class RequestUrls:
    """A queued request as fal named it: its id and the URLs to read, fetch and cancel it."""

    request_id: str
    status_url: str
    response_url: str
    cancel_url: str

    def encode(self) -> str:
        """The provider job id the core stores: the request's id and URLs as one JSON string."""
        return json.dumps(
            {
                "id": self.request_id,
                "status": self.status_url,
                "result": self.response_url,
                "cancel": self.cancel_url,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, provider_job_id: str) -> RequestUrls:
        """The request a stored provider job id names; `ProviderJobNotFound` if garbled."""
        try:
            data = json.loads(provider_job_id)
            return cls(data["id"], data["status"], data["result"], data["cancel"])
        except (ValueError, KeyError, TypeError):
            raise ProviderJobNotFound(detail="not a fal request reference") from None


def endpoint_for(request: GenerationRequest) -> str:
    """The endpoint that takes this request's inputs (docs/providers.md §3.1)."""
    model = request.model or ""
    if request.source_video is not None:
        return f"{model}/extend-video"
    if request.reference_images:
        return f"{model}/reference-to-video"
    if request.last_frame is not None:
        if request.first_frame is None:
            raise ProviderBadRequest(_(LAST_FRAME_ALONE_MESSAGE), detail="last frame without first")
        return f"{model}/first-last-frame-to-video"
    if request.first_frame is not None:
        return f"{model}/image-to-video"
    return model


class FalKeys:
    """fal's webhook signing keys (Ed25519, from its JWKS): kept for a day, fetched again when
    no key verifies a signature, but never more often than `min_refresh_s`, fetch failures
    included."""

    def __init__(
        self,
        client: ApiClient,
        urls: Sequence[str],
        *,
        max_age_s: float = JWKS_MAX_AGE_S,
        min_refresh_s: float = JWKS_MIN_REFRESH_S,
    ) -> None:
        self._client = client
        self._urls = tuple(urls)
        self._max_age_s = max_age_s
        self._min_refresh_s = min_refresh_s
        self._keys: list[Ed25519PublicKey] = []
        self._fetched_at: float | None = None  # last fetch that brought keys
        self._tried_at: float | None = None  # last fetch, whatever came of it
        self._lock = asyncio.Lock()

    async def verify(self, message: bytes, signature: bytes, *, now: float) -> bool:
        """Whether one of fal's current keys signed `message` (refetching the JWKS when allowed)."""
        async with self._lock:
            stale = self._fetched_at is None or now - self._fetched_at >= self._max_age_s
            if stale and self._may_fetch(now):
                await self._fetch(now)
            if self._verifies(message, signature):
                return True
            if not self._may_fetch(now):
                return False
            # Perhaps fal rotated its key since the last fetch.
            await self._fetch(now)
            return self._verifies(message, signature)

    def _may_fetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self._min_refresh_s

    def _verifies(self, message: bytes, signature: bytes) -> bool:
        for key in self._keys:
            try:
                key.verify(signature, message)
            except BadEd25519Signature:
                continue
            return True
        return False

    async def _fetch(self, now: float) -> None:
        self._tried_at = now
        keys: list[Ed25519PublicKey] = []
        for url in self._urls:
            try:
                body = await self._client.json("GET", url)
            except ProviderError as err:
                log.warning("fal key set at %s could not be fetched: %s", url, err)
                continue
            keys.extend(_ed25519_keys(body))
        if keys:
            self._keys, self._fetched_at = keys, now
        else:
            log.warning("no fal webhook key fetched; keeping the %d known", len(self._keys))


def _ed25519_keys(jwks: Any) -> list[Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS document (`{"keys": [{"kty": "OKP", "crv": "Ed25519",
    "x": <base64url>}]}`); anything else in it is skipped."""
    found: list[Ed25519PublicKey] = []
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or (entry.get("kty"), entry.get("crv")) != (
            "OKP",
            "Ed25519",
        ):
            continue
        x = entry.get("x")
        if not isinstance(x, str):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            found.append(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            continue
    return found


class FalProvider:
    """fal.ai's queue as a `VideoProvider`: inputs pick the endpoint; Ed25519-signed webhooks."""

    name = "fal"
    idempotent_submit = False  # every POST to the queue starts (and bills) a new request
    poll_interval_s: float | None = None
    # fal's queue takes "about 10 requests a second" per key (issue 17); submits and status
    # reads each get that. VEO_BUDGET_FAL_* replace it.
    limits = ProviderLimits(submit=per_second(10), status=per_second(10))
    # It calls back when a job ends: polls are then only the safety net.
    calls_back = True

    def __init__(
        self,
        api_key: str,
        links: MediaLinks,
        *,
        queue_url: str = DEFAULT_QUEUE_URL,
        jwks_urls: Sequence[str] = DEFAULT_JWKS_URLS,
        jwks_min_refresh_s: float = JWKS_MIN_REFRESH_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._links = links
        self._api = ApiClient(
            queue_url,
            {"Authorization": f"Key {api_key}"},
            map_error=map_error,
            transport=transport,
        )
        # The key set is public: fetched without our key.
        self._public = ApiClient(queue_url, {}, transport=transport)
        self._keys = FalKeys(self._public, jwks_urls, min_refresh_s=jwks_min_refresh_s)

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Queue the request on the endpoint its inputs pick; return its id and URLs, encoded."""
        if request.model is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        endpoint = endpoint_for(request)
        answer = await self._api.json(
            "POST",
            endpoint,
            json_body=self.request_body(job_id, request),
            params={"fal_webhook": callback_url} if callback_url else None,
        )
        urls = self._read_submit_answer(answer)
        return urls.encode()

    def request_body(self, job_id: str, request: GenerationRequest) -> dict[str, Any]:
        """The endpoint's input JSON for a validated request (docs/providers.md §3.1)."""
        body: dict[str, Any] = {"prompt": request.prompt}
        if request.source_video is not None:
            # The extension endpoint fixes length (7 s), resolution (720p) and shape itself.
            body["video_url"] = request.source_video
        else:
            body["aspect_ratio"] = request.aspect_ratio
            body["duration"] = f"{request.duration_s}s"
            body["resolution"] = request.resolution
        body["generate_audio"] = bool(request.audio)
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            body["seed"] = request.seed
        link = self._links.image_ref
        if request.reference_images:
            body["image_urls"] = [
                link(job_id, MediaRole.REFERENCE, i, image)
                for i, image in enumerate(request.reference_images)
            ]
        elif request.first_frame is not None and request.last_frame is not None:
            body["first_frame_url"] = link(job_id, MediaRole.FIRST_FRAME, 0, request.first_frame)
            body["last_frame_url"] = link(job_id, MediaRole.LAST_FRAME, 0, request.last_frame)
        elif request.first_frame is not None:
            body["image_url"] = link(job_id, MediaRole.FIRST_FRAME, 0, request.first_frame)
        return body

    def _read_submit_answer(self, answer: Any) -> RequestUrls:
        fields = ("request_id", "status_url", "response_url", "cancel_url")
        values = [answer.get(f) if isinstance(answer, dict) else None for f in fields]
        if not all(isinstance(v, str) and v for v in values):
            # Not retryable: the request may be queued, and a second submit bills again.
            raise ProviderError(detail="fal's submit answer lacks the request's URLs")
        urls = RequestUrls(*values)  # type: ignore[arg-type]
        self._check_own_host(urls)
        return urls

    def _check_own_host(self, urls: RequestUrls) -> None:
        for url in (urls.status_url, urls.response_url, urls.cancel_url):
            if not self._api.is_own_host(httpx.URL(url)):
                # The key goes only to the queue's own host, whatever an answer names.
                raise ProviderError(detail=f"fal named a request URL on another host: {url}")

    def _urls(self, provider_job_id: str) -> RequestUrls:
        urls = RequestUrls.decode(provider_job_id)
        self._check_own_host(urls)
        return urls

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the request's status from the status URL fal gave, and its result once completed."""
        urls = self._urls(provider_job_id)
        body = await self._api.json("GET", urls.status_url, params={"logs": 0})
        if not isinstance(body, dict):
            raise ProviderUnavailable(detail="fal status answer is not a JSON object")
        state = body.get("status")
        if state == "IN_QUEUE":
            position = body.get("queue_position")
            ahead = position if isinstance(position, int) and position >= 0 else None
            return ProviderStatus(ProviderJobState.QUEUED, queue_position=ahead)
        if state == "COMPLETED":
            if body.get("error"):
                return _failed(urls.request_id, body.get("error_type"), body.get("error"))
            return await self._result(urls)
        # IN_PROGRESS, or a state this adapter does not know yet: it runs on.
        return ProviderStatus(ProviderJobState.RUNNING)

    async def _result(self, urls: RequestUrls) -> ProviderStatus:
        try:
            output = await self._api.json("GET", urls.response_url)
        except ContentRejected as err:
            log.info("fal request %s refused by the content checker: %s", urls.request_id, err)
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="content_rejected",
                error_message=_(SAFETY_MESSAGE),
            )
        except ProviderBadRequest as err:  # the run failed on its input: its answer is final
            log.info("fal request %s failed: %s", urls.request_id, err.detail)
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="provider_failed",
                error_message=_(FAILED_MESSAGE),
            )
        video = output.get("video") if isinstance(output, dict) else None
        url = video.get("url") if isinstance(video, dict) else None
        if isinstance(url, str) and url:
            return ProviderStatus(ProviderJobState.SUCCEEDED, progress=100, video_url=url)
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="no_output", error_message=_(NO_OUTPUT_MESSAGE)
        )

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the video from fal's CDN, without the key (another host)."""
        # fal's CDN is another host: the key is not sent there.
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        """`PUT cancel_url`: a queued request is dropped, a running one is told to stop. True
        when fal took the cancellation; False when there was nothing left to stop."""
        urls = self._urls(provider_job_id)
        try:
            response = await self._api.request("PUT", urls.cancel_url)
        except (ProviderBadRequest, ProviderJobNotFound) as err:
            log.info("fal request %s: nothing to cancel: %s", urls.request_id, err.detail)
            return False  # ALREADY_COMPLETED (400) or NOT_FOUND (404)
        body = parse_body(response)
        answer = body.get("status") if isinstance(body, dict) else None
        return answer in ("OK", "CANCELLATION_REQUESTED")

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """fal's signature: Ed25519 over `request id \\n user id \\n timestamp \\n
        hex(sha256(body))`, by a key of fal's JWKS, within 5 minutes of now."""
        lowered = {k.lower(): v for k, v in headers.items()}
        parts = [
            lowered.get(f"x-fal-webhook-{name}", "")
            for name in ("request-id", "user-id", "timestamp", "signature")
        ]
        request_id, user_id, stamp, signature_hex = parts
        if not all(parts):
            raise InvalidSignature("missing X-Fal-Webhook-* headers")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) < 16):
            raise InvalidSignature("X-Fal-Webhook-Timestamp is not a number")
        if abs(now - int(stamp)) > TOLERANCE_S:
            raise InvalidSignature("X-Fal-Webhook-Timestamp outside the tolerance")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise InvalidSignature("X-Fal-Webhook-Signature is not hex") from None
        message = "\n".join((request_id, user_id, stamp, hashlib.sha256(body).hexdigest())).encode(
            "utf-8", "surrogatepass"
        )
        if not await self._keys.verify(message, signature, now=now):
            raise InvalidSignature("no fal key verifies the signature")

    async def health(self) -> ProviderHealth:
        """For `veo-bot doctor`: whether fal's queue answers and takes the key."""
        try:
            await self._api.request("GET", HEALTH_PROBE)
        except ProviderJobNotFound:
            return ProviderHealth(True, True, detail="fal's queue answered and took the key")
        except ProviderAuthError:
            return ProviderHealth(True, False, detail="fal refused the key (FAL_KEY)")
        except ProviderOutOfCredits:
            return ProviderHealth(True, True, detail="fal took the key; the balance is spent")
        except ProviderUnavailable as err:
            return ProviderHealth(False, None, detail=f"fal's queue did not answer ({err.code})")
        except ProviderError as err:
            return ProviderHealth(True, None, detail=f"fal answered unexpectedly ({err.code})")
        return ProviderHealth(True, True, detail="fal's queue answered and took the key")

    async def aclose(self) -> None:
        """Close the HTTP clients (the keyed one and the one for public URLs)."""
        await self._api.aclose()
        await self._public.aclose()


def _failed(request_id: str, error_type: Any, error: Any) -> ProviderStatus:
    """A request that ended with an error in its status (a runner failure, a cancellation)."""
    kind, words = str(error_type or ""), str(error or "")
    log.info("fal request %s failed: %s: %s", request_id, kind, words)
    if kind in _CANCELLED_TYPES:
        return ProviderStatus(
            ProviderJobState.FAILED,
            error_code="provider_cancelled",
            error_message=_(CANCELLED_MESSAGE),
        )
    if any(word in (kind + " " + words).lower() for word in _SAFETY_WORDS):
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="content_rejected", error_message=_(SAFETY_MESSAGE)
        )
    return ProviderStatus(
        ProviderJobState.FAILED, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
    )


def _problems(body: Any) -> list[dict[str, Any]]:
    detail = body.get("detail") if isinstance(body, dict) else None
    return [d for d in detail if isinstance(d, dict)] if isinstance(detail, list) else []


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """fal's errors: model errors `{"detail": [{loc, msg, type}]}`, request errors `{"detail":
    str, "error_type"}` (docs/providers.md §3.2). None leaves the shared default."""
    problems = _problems(body)
    words = "; ".join(str(p.get("msg")) for p in problems) or error_message(body)
    detail = f"HTTP {status}: {words}"
    if any(p.get("type") == "content_policy_violation" for p in problems):
        return ContentRejected(_(SAFETY_MESSAGE), detail=detail)
    if status in (400, 422):
        return ProviderBadRequest(detail=detail)
    if status == 401:
        return ProviderAuthError(detail=detail)
    if status in (402, 403):
        if "balance" in words.lower() or status == 402:
            return ProviderOutOfCredits(detail=detail)
        return ProviderAuthError(detail=detail)
    if status == 404:
        if response.request.method == "POST":  # no such endpoint: retired or misspelt
            return ProviderBadRequest(_(MODEL_UNAVAILABLE_MESSAGE), detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        return ProviderRateLimited(retry_after=retry_after_s(response), detail=detail)
    return None


_VEO31_INPUTS = frozenset(
    {
        InputKind.TEXT,
        InputKind.FIRST_FRAME,
        InputKind.LAST_FRAME,
        InputKind.REFERENCES,
        InputKind.VIDEO,
    }
)
_FAST_INPUTS = frozenset(
    {InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME, InputKind.VIDEO}
)

# Veo 3.1 at fal. Prices per second in US dollars from fal's model pages (fal.ai/models/
# fal-ai/veo3.1, …/fast, read 2026-12-01, docs/providers.md §3.4 and §7; lite from
# third-party listings): without and with sound at 720p / 1080p; 4k costs more (standard
# 0.40 / 0.60, fast 0.30 / 0.35); lite includes sound and costs 0.08 at 1080p.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="fal",
        id="fal-ai/veo3.1/fast",
        label="Veo 3.1 Fast (fal)",
        description="Google Veo 3.1 Fast on fal: text, a first frame, first + last, extension.",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=_FAST_INPUTS,
        max_prompt_chars=2000,
        audio=True,
        can_extend=True,
        default=True,
        price_usd_per_s=0.10,
        price_usd_per_s_audio=0.15,
        resolution_prices=(("4k", 0.30, 0.35),),
        price_source="fal.ai/models/fal-ai/veo3.1/fast (llms.txt), read 2026-12-01",
    ),
    ModelSpec(
        provider="fal",
        id="fal-ai/veo3.1",
        label="Veo 3.1 (fal)",
        description="Google Veo 3.1 on fal; also 1 to 3 reference images (8 s).",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=_VEO31_INPUTS,
        max_references=3,
        max_prompt_chars=2000,
        audio=True,
        can_extend=True,
        duration_rules=(DurationRule("references", (8,)),),
        price_usd_per_s=0.20,
        price_usd_per_s_audio=0.40,
        resolution_prices=(("4k", 0.40, 0.60),),
        price_source="fal.ai/models/fal-ai/veo3.1 (llms.txt, playground), read 2026-12-01",
    ),
    ModelSpec(
        provider="fal",
        id="fal-ai/veo3.1/lite",
        label="Veo 3.1 Lite (fal)",
        description="Google Veo 3.1 Lite on fal: the cheapest tier, up to 1080p.",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=_FAST_INPUTS,
        max_prompt_chars=2000,
        audio=True,
        can_extend=True,
        price_usd_per_s=0.05,
        resolution_prices=(("1080p", 0.08, None),),
        price_source="third-party listings (videopromptkit, public code), read 2026-12-01",
    ),
)
