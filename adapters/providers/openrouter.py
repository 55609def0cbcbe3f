"""OpenRouter videos (docs/providers.md §5): `POST /videos` (202) starts a job, `GET
/videos/{id}` follows it, and the result is streamed from `unsigned_urls[0]` — OpenRouter's own
`/videos/{id}/content` route, which needs the key (sent only to OpenRouter's origin).

The models are OpenRouter's own list, `GET /videos/models`, read at start and daily
(`bot.live_models`): its capability fields become catalog entries, so a model OpenRouter adds
is offered without a release. `MODELS` is the fallback until a list has been read.

OpenRouter has no cancel call. Terminal jobs are announced to `callback_url` (HTTPS), signed
`X-OpenRouter-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t},{raw body}")>` when a
signing secret is set in the workspace (`OPENROUTER_WEBHOOK_SECRET` here).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from adapters.providers._http import ApiClient, error_message, retry_after_s
from bot.budget import ProviderLimits, per_minute
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
from bot.links import MediaLinks, same_digest
from bot.models import (
    GenerationRequest,
    ImageInput,
    MediaRole,
    ProviderHealth,
    ProviderJobState,
    ProviderStatus,
)
from bot.webhooks import InvalidSignature

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
SIGNATURE_TOLERANCE_S = 300
MAX_PROMPT_CHARS = 2000  # OpenRouter states no limit; Veo's own is about this long

SAFETY_MESSAGE = N_(
    "The video provider's safety filter refused this prompt or image. "
    "Try describing it differently."
)
FAILED_MESSAGE = N_("The video provider could not make this video. Please try again.")
CANCELLED_MESSAGE = N_("The video provider cancelled this video before it was finished.")
EXPIRED_MESSAGE = N_("The video provider gave up on this video: it took longer than it allows.")
MODEL_UNAVAILABLE_MESSAGE = N_(
    "OpenRouter does not offer this model any more. Pick another model (`veo-bot models`)."
)
FRAMES_AND_REFERENCES_MESSAGE = N_(
    "OpenRouter takes either frame images or reference images, not both: remove one kind."
)
_SAFETY_WORDS = ("moderat", "safety", "policy", "inappropriate", "prohibited", "nsfw", "flagged")

_STATES = {
    "pending": ProviderJobState.QUEUED,
    "in_progress": ProviderJobState.RUNNING,
    "completed": ProviderJobState.SUCCEEDED,
    "failed": ProviderJobState.FAILED,
    "cancelled": ProviderJobState.FAILED,
    "expired": ProviderJobState.FAILED,
}


class OpenRouterProvider:
    """OpenRouter videos as a `VideoProvider` and a `ModelSource` (its model list read live)."""

    name = "openrouter"
    idempotent_submit = False  # every POST /videos starts (and bills) a new job
    poll_interval_s: float | None = None
    # ❓ Undocumented for videos: a moderate guess, which a 429 shrinks;
    # VEO_BUDGET_OPENROUTER_* replace it.
    limits = ProviderLimits(submit=per_minute(60), status=per_minute(300))

    def __init__(
        self,
        api_key: str,
        links: MediaLinks,
        *,
        base_url: str = DEFAULT_BASE_URL,
        webhook_secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._links = links
        self._webhook_secret = webhook_secret
        self._api = ApiClient(
            base_url,
            {"Authorization": f"Bearer {api_key}"},
            map_error=map_error,
            transport=transport,
        )
        # Set once OpenRouter refuses a plain-HTTP callback_url (it wants HTTPS): from then on
        # such jobs are followed by polling alone, without a refused submit each time.
        self._plain_http_callbacks_refused = False

    # --- jobs -------------------------------------------------------------------------

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Start a job with `POST /videos` (asking for a webhook where allowed); return its id."""
        if callback_url is not None and not callback_url.startswith("https://"):
            callback_url = None if self._plain_http_callbacks_refused else callback_url
        body = self.request_body(job_id, request, callback_url=callback_url)
        try:
            answer = await self._api.json("POST", "videos", json_body=body)
        except ProviderBadRequest as err:
            if "callback_url" not in body or "callback_url" not in err.detail:
                raise
            # Refused, so nothing started: ask again without it and let polling follow the job.
            log.warning(
                "openrouter refused the callback URL (VEO_PUBLIC_URL must be HTTPS for its "
                "webhooks); following jobs by polling: %s",
                err.detail,
            )
            self._plain_http_callbacks_refused = True
            del body["callback_url"]
            answer = await self._api.json("POST", "videos", json_body=body)
        job = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(job, str) or not job:
            # Not retryable: the job may have started, and a second submit bills again.
            raise ProviderError(detail="POST /videos answered without a job id")
        return job

    def request_body(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> dict[str, Any]:
        """The `POST /videos` body (docs/providers.md §5.2) for a validated request."""
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "duration": request.duration_s,
            "resolution": request.resolution,
            "aspect_ratio": request.aspect_ratio,
            # Sent either way: OpenRouter's default is the model's own flag (sound on).
            "generate_audio": bool(request.audio),
        }
        if request.seed is not None:
            body["seed"] = request.seed
        frames = [
            self._image(job_id, role, 0, image, frame_type=role.value)
            for role, image in (
                (MediaRole.FIRST_FRAME, request.first_frame),
                (MediaRole.LAST_FRAME, request.last_frame),
            )
            if image is not None
        ]
        if frames and request.reference_images:
            # OpenRouter would drop the references without a word ("frame_images takes
            # precedence"): say so instead of making a different video than asked.
            raise ProviderBadRequest(_(FRAMES_AND_REFERENCES_MESSAGE), detail="frames + references")
        if frames:
            body["frame_images"] = frames
        if request.reference_images:
            body["input_references"] = [
                self._image(job_id, MediaRole.REFERENCE, i, image)
                for i, image in enumerate(request.reference_images)
            ]
        if callback_url is not None:
            body["callback_url"] = callback_url
        return body

    def _image(
        self,
        job_id: str,
        role: MediaRole,
        position: int,
        image: ImageInput,
        *,
        frame_type: str | None = None,
    ) -> dict[str, Any]:
        part: dict[str, Any] = {
            "type": "image_url",
            "image_url": {"url": self._links.image_ref(job_id, role, position, image)},
        }
        if frame_type is not None:
            part["frame_type"] = frame_type
        return part

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the job from `GET /videos/{id}`."""
        body = await self._api.json("GET", f"videos/{quote(provider_job_id, safe='')}")
        return self.read_job(provider_job_id, body)

    def read_job(self, provider_job_id: str, body: Any) -> ProviderStatus:
        """One reading of a job (docs/providers.md §5.3); unknown states run on."""
        if not isinstance(body, dict):
            raise ProviderUnavailable(detail="job answer is not a JSON object")
        status = str(body.get("status") or "").lower()
        state = _STATES.get(status, ProviderJobState.RUNNING)
        if state is ProviderJobState.SUCCEEDED:
            return ProviderStatus(
                state, progress=100, video_url=self._result_url(provider_job_id, body)
            )
        if state is ProviderJobState.FAILED:
            # The reason can quote the prompt back: it goes to the log, never to the channel.
            reason = str(body.get("error") or "")
            log.info("openrouter job %s %s: %s", provider_job_id, status, reason)
            if status == "expired":
                return ProviderStatus(
                    state, error_code="provider_job_not_found", error_message=_(EXPIRED_MESSAGE)
                )
            if status == "cancelled":
                return ProviderStatus(
                    state, error_code="provider_cancelled", error_message=_(CANCELLED_MESSAGE)
                )
            if any(word in reason.lower() for word in _SAFETY_WORDS):
                return ProviderStatus(
                    state, error_code="content_rejected", error_message=_(SAFETY_MESSAGE)
                )
            return ProviderStatus(
                state, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
            )
        return ProviderStatus(state)

    def _result_url(self, provider_job_id: str, body: dict[str, Any]) -> str:
        """`unsigned_urls[0]` (OpenRouter's content route); a signed `urls[0]` if some answer
        carries one instead; the documented content route when a completed job lists none."""
        for field in ("unsigned_urls", "urls"):
            urls = body.get(field)
            if isinstance(urls, list) and urls and isinstance(urls[0], str) and urls[0]:
                return str(self._api.base_url.join(urls[0]))  # relative ones: OpenRouter's origin
        return str(self._api.url(f"videos/{quote(provider_job_id, safe='')}/content?index=0"))

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the video; the key goes only to OpenRouter's own origin."""
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        """False at once: OpenRouter has no cancel call, the job runs to its end."""
        del provider_job_id  # OpenRouter has no cancel call: the job runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """`X-OpenRouter-Signature: t=<unix>,v1=<hex>` over "{t},{raw body}", within 300 s.
        Without a secret OpenRouter does not sign: the token in the callback URL guards it."""
        if self._webhook_secret is None:
            return
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp, signatures = "", []
        for part in lowered.get("x-openrouter-signature", "").split(","):
            key, _, value = part.strip().partition("=")
            if key == "t":
                stamp = value
            elif key == "v1" and value:
                signatures.append(value)
        if not (stamp and signatures):
            raise InvalidSignature("missing X-OpenRouter-Signature t= and v1=")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) < 16):
            raise InvalidSignature("the signature's timestamp is not a number")
        if abs(now - int(stamp)) > SIGNATURE_TOLERANCE_S:
            raise InvalidSignature("the signature's timestamp is outside the tolerance")
        expected = sign(self._webhook_secret, int(stamp), body)
        if not any(same_digest(expected, given) for given in signatures):
            raise InvalidSignature("no signature matches")

    # --- models and health --------------------------------------------------------------

    async def fetch_models(self) -> object:
        """OpenRouter's video model list (`GET /videos/models`) as it answered."""
        return await self._api.json("GET", "videos/models")

    def read_models(self, listing: object) -> list[ModelSpec]:
        """Catalog entries from a model list, fresh or cached."""
        return models_from_listing(listing)

    async def health(self) -> ProviderHealth:
        """`GET /key` proves the key (the model list answers without one), then the ids
        OpenRouter serves today."""
        try:
            key = await self._api.json("GET", "key")
        except ProviderAuthError as err:
            return ProviderHealth(
                True, False, detail=f"OpenRouter refused the key: {err.user_message}"
            )
        except ProviderUnavailable as err:  # no connection, a timeout, a 5xx
            return ProviderHealth(
                False, None, detail=f"OpenRouter did not answer: {err.user_message}"
            )
        except ProviderError as err:
            return ProviderHealth(True, None, detail=f"OpenRouter said no: {err.user_message}")
        try:
            listing = await self.fetch_models()
        except ProviderError as err:
            return ProviderHealth(
                True, True, detail=f"the model list did not come: {err.user_message}"
            )
        live = frozenset(_ids(listing))
        return ProviderHealth(True, True, live_models=live, detail=_allowance(key))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._api.aclose()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 OpenRouter puts in `v1=` (its cookbook's recipe)."""
    return hmac.new(secret.encode(), f"{timestamp},".encode() + body, hashlib.sha256).hexdigest()


def _allowance(answer: Any) -> str:
    data = answer.get("data") if isinstance(answer, dict) else None
    remaining = data.get("limit_remaining") if isinstance(data, dict) else None
    if isinstance(remaining, int | float) and not isinstance(remaining, bool):
        return f"key accepted; ${remaining:,.2f} left on its limit"
    return "key accepted"


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """OpenRouter's envelope `{"error": {code, message, metadata}}` (HTTP status = code)."""
    detail = f"HTTP {status}: {error_message(body)}"
    if status == 400:
        return ProviderBadRequest(detail=detail)
    if status == 401:
        return ProviderAuthError(detail=detail)
    if status == 402:
        return ProviderOutOfCredits(detail=detail)
    if status == 403:
        # OpenRouter's 403: "your chosen model requires moderation and your input was flagged".
        return ContentRejected(detail=detail)
    if status == 404:
        if response.request.method == "POST":
            return ProviderBadRequest(_(MODEL_UNAVAILABLE_MESSAGE), detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        return ProviderRateLimited(retry_after=retry_after_s(response), detail=detail)
    return None  # 408, 5xx: retried as unavailable


# --- the model list ---------------------------------------------------------------------

# Which model the bot offers first, most preferred first; then any other Veo 3.1.
DEFAULT_PREFERENCE = ("google/veo-3.1-fast", "google/veo-3.1", "google/veo-3.1-lite")
# `/videos/models` does not say which models take reference images (docs/providers.md §5.4):
# these route to Vertex Veo 3.1, which takes 1-3 "asset" images, for 8 s videos only (§1.1).
REFERENCE_MODELS: dict[str, int] = {"google/veo-3.1": 3, "google/veo-3.1-fast": 3}
_RESOLUTION_ORDER = ("360p", "480p", "540p", "720p", "768p", "1080p", "1K", "2K", "4K")


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(v for v in value if isinstance(v, str) and v.strip()))


def _ids(listing: Any) -> list[str]:
    data = listing.get("data") if isinstance(listing, dict) else None
    items = data if isinstance(data, list) else []
    return [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _prices(skus: Any) -> tuple[float | None, float | None]:
    """USD per second from `pricing_skus` (decimal strings under free-text SKU names): the
    `per-video-second*` ones; those naming audio are the with-sound price."""
    silent: dict[str, float] = {}
    sound: list[float] = []
    for name, value in skus.items() if isinstance(skus, dict) else ():
        if not (isinstance(name, str) and name.startswith("per-video-second")):
            continue
        try:
            price = float(value)
        except (TypeError, ValueError):
            continue
        if price < 0:
            continue
        if "audio" in name and "no-audio" not in name and "without" not in name:
            sound.append(price)
        else:
            silent[name] = price
    base = silent.get("per-video-second", min(silent.values(), default=None))
    return base, min(sound, default=None)


def _spec(item: dict[str, Any]) -> ModelSpec | None:
    """One `/videos/models` entry as a catalog entry; None when the entry does not say what
    the bot must check before it charges quota (durations, resolutions, aspect ratios)."""
    model = item.get("id")
    if not isinstance(model, str) or not model or any(c.isspace() for c in model):
        return None
    durations = sorted(
        {d for d in item.get("supported_durations") or () if type(d) is int and 0 < d <= 600}
    )
    resolutions = sorted(
        _strings(item.get("supported_resolutions")),
        key=lambda r: _RESOLUTION_ORDER.index(r) if r in _RESOLUTION_ORDER else 99,
    )
    aspects = _strings(item.get("supported_aspect_ratios"))
    if not (durations and resolutions and aspects):
        return None
    frames = set(_strings(item.get("supported_frame_images")))
    inputs = {InputKind.TEXT}
    if "first_frame" in frames:
        inputs.add(InputKind.FIRST_FRAME)
    if "last_frame" in frames:
        inputs.add(InputKind.LAST_FRAME)
    references = REFERENCE_MODELS.get(model, 0)
    rules: tuple[DurationRule, ...] = ()
    if references and 8 in durations:
        inputs.add(InputKind.REFERENCES)
        rules = (DurationRule("references", (8,)),)
    price, price_audio = _prices(item.get("pricing_skus"))
    shorter = [d for d in durations if d <= 8]
    description = item.get("description")
    return ModelSpec(
        provider="openrouter",
        id=model,
        label=str(item.get("name") or model),
        description=description.strip()[:300] if isinstance(description, str) else "",
        durations=tuple(durations),
        default_duration=shorter[-1] if shorter else durations[0],
        aspect_ratios=tuple(aspects),
        default_aspect_ratio="16:9" if "16:9" in aspects else aspects[0],
        resolutions=tuple(resolutions),
        default_resolution="720p" if "720p" in resolutions else None,
        inputs=frozenset(inputs),
        max_references=references if InputKind.REFERENCES in inputs else 0,
        max_prompt_chars=MAX_PROMPT_CHARS,
        audio=item.get("generate_audio") is True,
        seed=item.get("seed") is True,
        negative_prompt=False,  # no such field; Veo's goes only through provider passthrough
        duration_rules=rules,
        price_usd_per_s=price,
        price_usd_per_s_audio=price_audio,
        price_source="OpenRouter's pricing_skus (GET /videos/models)"
        if price is not None
        else None,
    )


def _rank(spec: ModelSpec) -> tuple[int, str]:
    if spec.id in DEFAULT_PREFERENCE:
        return DEFAULT_PREFERENCE.index(spec.id), spec.id
    return (len(DEFAULT_PREFERENCE) if spec.id.startswith("google/veo-3.1") else 99), spec.id


def models_from_listing(listing: object) -> list[ModelSpec]:
    """The catalog entries for a `GET /videos/models` answer: every model whose constraints
    it states, Veo 3.1 first and the default; entries it cannot check are left out."""
    data = listing.get("data") if isinstance(listing, dict) else None
    specs: dict[str, ModelSpec] = {}
    skipped: list[str] = []
    for item in data if isinstance(data, list) else []:
        spec = _spec(item) if isinstance(item, dict) else None
        if spec is None:
            skipped.append(str(item.get("id")) if isinstance(item, dict) else "?")
        elif spec.id not in specs:
            specs[spec.id] = spec
    if skipped:
        log.info("openrouter: left out models whose limits the list does not state: %s", skipped)
    ordered = sorted(specs.values(), key=_rank)
    return [replace(spec, default=i == 0) for i, spec in enumerate(ordered)]


# Until the live list has been read (or when it cannot be): the Veo ids OpenRouter listed on
# 2026-08-22 (docs/providers.md §5.4, ORDOCS cookbook), with the capability fields of its
# `google/veo-3.1-lite` example and Vertex's limits for the others (§1.1).
FALLBACK_LISTING: dict[str, Any] = {
    "data": [
        {
            "id": model,
            "name": name,
            "supported_durations": [4, 6, 8],
            "supported_resolutions": ["720p", "1080p"],
            "supported_aspect_ratios": list(WIDE_TALL),
            "supported_frame_images": ["first_frame", "last_frame"],
            "generate_audio": True,
            "seed": True,
        }
        for model, name in (
            ("google/veo-3.1-fast", "Google: Veo 3.1 Fast"),
            ("google/veo-3.1", "Google: Veo 3.1"),
            ("google/veo-3.1-lite", "Google: Veo 3.1 Lite"),
        )
    ]
}
# USD per second without / with sound, until `pricing_skus` says: OpenRouter passes the
# upstream price through, and these are Google's Veo 3.1 rates as fal and resellers quote them
# (docs/providers.md §7, read 2026-12-01; confidence S). Lite is priced with sound included,
# at 720p (0.08 at 1080p).
FALLBACK_PRICES: dict[str, tuple[float, float]] = {
    "google/veo-3.1": (0.20, 0.40),
    "google/veo-3.1-fast": (0.10, 0.15),
    "google/veo-3.1-lite": (0.05, 0.05),
}
MODELS: tuple[ModelSpec, ...] = tuple(
    replace(
        spec,
        price_usd_per_s=FALLBACK_PRICES[spec.id][0],
        price_usd_per_s_audio=FALLBACK_PRICES[spec.id][1],
        price_source="Google's Veo 3.1 rates as fal and resellers quote them, read 2026-12-01",
    )
    for spec in models_from_listing(FALLBACK_LISTING)
)
