"""AIML API (as its documented Veo 2 examples show): Google Veo 2 from text (`veo2`) or from a first
frame, optionally towards a last frame (`veo2/image-to-video`).

Images go as URLs: a short-lived signed link on the bot's server, or a base64 data URI (the
docs accept "a Base64-encoded local image"). AIML answers 403 when the account has no
credits and sends no Retry-After on 429, so the core backs off by itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from adapters.providers._http import ApiClient, error_message, health_from_error, retry_after_s
from bot.budget import ProviderLimits, per_minute
from bot.catalog import WIDE_TALL, InputKind, ModelSpec
from bot.errors import (
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

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.aimlapi.com"
GENERATION_PATH = "v2/generate/video/google/generation"

SAFETY_MESSAGE = N_(
    "The video provider's safety filter refused this prompt or image. "
    "Try describing it differently."
)
FAILED_MESSAGE = N_("The video provider could not make this video. Please try again.")
NO_OUTPUT_MESSAGE = N_("The video provider finished without returning a video. Please try again.")
_SAFETY_WORDS = ("moderat", "safety", "policy", "inappropriate", "prohibited", "nsfw", "filter")
_STATES = {
    "queued": ProviderJobState.QUEUED,
    "generating": ProviderJobState.RUNNING,
    "completed": ProviderJobState.SUCCEEDED,
    "error": ProviderJobState.FAILED,
}


class AimlapiProvider:
    """AIML API's Veo 2 as a `VideoProvider`: one POST per generation, then polled."""

    name = "aimlapi"
    idempotent_submit = False  # every POST starts (and bills) a new generation
    poll_interval_s: float | None = None
    # ❓ Plan-dependent and undocumented (docs/providers.md §3.4): a moderate guess, which
    # a 429 shrinks; VEO_BUDGET_AIMLAPI_* replace it.
    limits = ProviderLimits(submit=per_minute(60), status=per_minute(300))

    def __init__(
        self,
        api_key: str,
        links: MediaLinks,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._links = links
        self._api = ApiClient(
            base_url,
            {"Authorization": f"Bearer {api_key}"},
            map_error=map_error,
            transport=transport,
        )

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Start a generation with one POST; return its id (AIML sends no webhooks)."""
        del callback_url  # AIML documents no webhooks for video: the core polls
        answer = await self._api.json(
            "POST", GENERATION_PATH, json_body=self.request_body(job_id, request)
        )
        generation_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(generation_id, str) or not generation_id:
            raise ProviderError(detail="AIML answered without a generation id")
        return generation_id

    def request_body(self, job_id: str, request: GenerationRequest) -> dict[str, Any]:
        """The documented request body for a validated request."""
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "duration": request.duration_s,
        }
        if request.first_frame is not None:
            body["image_url"] = self._links.image_ref(
                job_id, MediaRole.FIRST_FRAME, 0, request.first_frame
            )
        if request.last_frame is not None:
            body["tail_image_url"] = self._links.image_ref(
                job_id, MediaRole.LAST_FRAME, 0, request.last_frame
            )
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            body["seed"] = request.seed
        if "enhance_prompt" in request.extras:
            body["enhance_prompt"] = bool(request.extras["enhance_prompt"])
        return body

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the generation's state from `GET ?generation_id=`."""
        body = await self._api.json(
            "GET", GENERATION_PATH, params={"generation_id": provider_job_id}
        )
        return read_generation(body)

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the finished video from the URL AIML gave."""
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        """False at once: AIML API has no cancel call, the generation runs to its end."""
        del provider_job_id  # this API has no cancel call: the job runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing to check: AIML API never calls back."""
        del headers, body, now  # AIML API does not call back

    async def health(self) -> ProviderHealth:
        """The account balance: the cheapest call that needs the key (AIML's own models
        list is public, so it proves nothing about the key)."""
        try:
            answer = await self._api.json("GET", "v1/billing/balance")
        except ProviderError as err:
            return health_from_error(err)
        balance = answer.get("balance") if isinstance(answer, dict) else None
        return ProviderHealth(True, True, detail=f"balance {balance}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._api.aclose()


def read_generation(body: Any) -> ProviderStatus:
    """One reading of a generation (create and poll answers share one shape); unknown states
    run on."""
    if not isinstance(body, dict):
        raise ProviderUnavailable(detail="generation answer is not a JSON object")
    state = _STATES.get(str(body.get("status") or "").lower(), ProviderJobState.RUNNING)
    if state is ProviderJobState.SUCCEEDED:
        video = body.get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if isinstance(url, str) and url:
            return ProviderStatus(state, progress=100, video_url=url)
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="no_output", error_message=_(NO_OUTPUT_MESSAGE)
        )
    if state is ProviderJobState.FAILED:
        reason = error_message(body).lower() + str(body.get("error") or "").lower()
        log.info("aimlapi generation %s failed: %s", body.get("id"), error_message(body))
        if any(word in reason for word in _SAFETY_WORDS):
            return ProviderStatus(
                state, error_code="content_rejected", error_message=_(SAFETY_MESSAGE)
            )
        return ProviderStatus(state, error_code="provider_failed", error_message=_(FAILED_MESSAGE))
    return ProviderStatus(state)


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """AIML's envelope `{message, path, requestId, statusCode}`; 403 means no credits."""
    detail = f"HTTP {status}: {error_message(body)}"
    if status == 400:
        return ProviderBadRequest(detail=detail)
    if status == 401:
        return ProviderAuthError(detail=detail)
    if status == 403:
        return ProviderOutOfCredits(detail=detail)
    if status == 404:
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        # AIML documents no Retry-After (the core then backs off); one sent anyway, as by a
        # proxy in front of it, is honoured.
        return ProviderRateLimited(retry_after=retry_after_s(response), detail=detail)
    return None


# The models AIML API offers: Veo 2 from text, and animating a first (and last) frame. Google
# retired Veo 2 on Vertex on 2026-06-30; AIML's pages for both still exist in stored copies, but
# whether AIML still serves them could not be confirmed (docs/providers.md §8, U).
_VEO2_AT_RISK = "Google retired Veo 2 on 2026-06-30; AIML may stop serving it"
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="aimlapi",
        at_risk=_VEO2_AT_RISK,
        id="veo2",
        label="Veo 2 (AIML API)",
        description="Google Veo 2 from text.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT}),
        max_prompt_chars=2000,
        default=True,
    ),
    ModelSpec(
        provider="aimlapi",
        at_risk=_VEO2_AT_RISK,
        id="veo2/image-to-video",
        label="Veo 2 image-to-video (AIML API)",
        description="Google Veo 2 animating a first frame, optionally towards a last frame.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        requires_image=True,
        max_prompt_chars=2000,
    ),
)
