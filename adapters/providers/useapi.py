"""useapi.net LTX Studio: Google Veo (`veo-create`) and LTX-Video (`ltx-create`) through an
LTX Studio account, as useapi's documentation and examples show them.

Images are uploaded first as raw bytes (`POST /assets/`), as `reference-image` for Veo and
`image` for LTX; the job is followed at `GET /assets/{jobId}`, where "completed" counts only
with an `artifact.assetUrl` (the two may be out of sync). The result is a pre-signed storage
URL: it never gets our token. Callbacks (`replyUrl`) are unsigned, so the core re-polls.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from adapters.providers._http import (
    DEFAULT_TIMEOUT,
    ApiClient,
    error_message,
    health_from_error,
    retry_after_s,
)
from bot.budget import ProviderLimits, per_minute
from bot.catalog import InputKind, ModelSpec
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
from bot.models import (
    GenerationRequest,
    ImageInput,
    ProviderHealth,
    ProviderJobState,
    ProviderStatus,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.useapi.net"
API = "v1/ltxstudio"
VEO_MODELS = frozenset({"veo2", "veo3", "veo3-fast"})
INTENSITIES = ("low", "medium", "high")
RATE_LIMIT_BACKOFF_S = 5.0  # useapi sends no Retry-After when every account is at maxJobs

SAFETY_MESSAGE = N_(
    "LTX Studio's safety filter refused this prompt or image. Try describing it differently."
)
FAILED_MESSAGE = N_("LTX Studio could not make this video. Please try again.")
CREDITS_MESSAGE = N_(
    "The LTX Studio account behind this bot is out of credits; an admin needs to top it up."
)
SUBSCRIPTION_MESSAGE = N_(
    "The useapi.net subscription behind this bot has lapsed; an admin needs to renew it."
)
_SAFETY_WORDS = ("moderat", "safety", "policy", "inappropriate", "prohibited", "nsfw", "content")


class UseapiProvider:
    """useapi.net's LTX Studio (Veo and LTX-Video) as a `VideoProvider`."""

    name = "useapi"
    idempotent_submit = False  # every create call starts (and bills) a new generation
    poll_interval_s: float | None = None
    # ❓ No documented request limit, only maxJobs concurrency (docs/providers.md §1.12): a
    # moderate guess, which a 429 shrinks; VEO_BUDGET_USEAPI_* replace it.
    limits = ProviderLimits(submit=per_minute(60), status=per_minute(300))
    # It calls back when a job ends: polls are then only the safety net.
    calls_back = True

    def __init__(
        self,
        token: str,
        *,
        email: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._email = email
        self._api = ApiClient(
            base_url,
            {"Authorization": f"Bearer {token}"},
            map_error=map_error,
            transport=transport,
            timeout=timeout or DEFAULT_TIMEOUT,
        )

    async def _upload(self, image: ImageInput, kind: str) -> str:
        params = {"type": kind, **({"email": self._email} if self._email else {})}
        answer = await self._api.json(
            "POST",
            f"{API}/assets/",
            content=image.data,
            params=params,
            headers={"Content-Type": image.mime},
        )
        asset = answer.get("asset") if isinstance(answer, dict) else None
        file_id = asset.get("fileId") if isinstance(asset, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise ProviderUnavailable(detail="asset upload answered without a fileId")
        return file_id

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Upload the images as assets, then start a Veo or LTX job; return its job id."""
        model = request.model or "veo2"
        veo = model in VEO_MODELS
        intensity = request.extras.get("intensity", "medium")
        if not veo and intensity not in INTENSITIES:
            # Refused before any upload, so nothing is left behind at LTX Studio.
            raise ProviderBadRequest(
                _("Motion intensity must be low, medium or high."), detail=f"{intensity!r}"
            )
        # June 18 docs and later: Veo wants reference-image assets, LTX plain images.
        kind = "reference-image" if veo else "image"
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": model,
            "duration": str(request.duration_s),
            "aspectRatio": request.aspect_ratio,
            "audioSFX": bool(request.audio),
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.first_frame is not None:
            body["startAssetId"] = await self._upload(request.first_frame, kind)
        if request.last_frame is not None:
            body["endAssetId"] = await self._upload(request.last_frame, kind)
        if veo and model != "veo2":
            body["resolution"] = request.resolution
        if not veo:
            body["intensity"] = intensity
        if self._email:
            body["email"] = self._email
        if callback_url is not None:
            body["replyUrl"] = callback_url
            body["replyRef"] = job_id
        path = f"{API}/videos/{'veo' if veo else 'ltx'}-create"
        answer = await self._api.json("POST", path, json_body=body)
        remote_id = answer.get("jobId") if isinstance(answer, dict) else None
        if not isinstance(remote_id, str) or not remote_id:
            raise ProviderError(detail="create answered without a jobId")
        return remote_id

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the job at `GET /assets/{jobId}`."""
        # The id holds ':' and '@'; '@' is percent-encoded, ':' kept, as the docs' examples.
        path = f"{API}/assets/{quote(provider_job_id, safe=':')}"
        return read_job(await self._api.json("GET", path))

    async def running_jobs(self) -> frozenset[str]:
        """The account's jobs still running, all in one call (`GET /scheduler`)."""
        body = await self._api.json("GET", f"{API}/scheduler")
        if not isinstance(body, list):
            raise ProviderUnavailable(detail="scheduler answer is not a list")
        return frozenset(
            str(item["jobId"]) for item in body if isinstance(item, dict) and item.get("jobId")
        )

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the result from its pre-signed storage URL."""
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        """False at once: useapi has no cancel call, the job runs to its end."""
        del provider_job_id  # this API has no cancel call: the job runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing to check: useapi's callbacks are unsigned, so the core polls instead."""
        del (
            headers,
            body,
            now,
        )  # useapi's replyUrl callbacks are unsigned: the core re-polls instead of trusting them

    async def health(self) -> ProviderHealth:
        """`GET /v2/account`, useapi's own token check."""
        try:
            account = await self._api.json("GET", "v2/account")
        except ProviderError as err:
            return health_from_error(err)
        active = isinstance(account, dict) and account.get("subscriptionIsActive") is not False
        detail = "subscription active" if active else "the useapi.net subscription has lapsed"
        return ProviderHealth(True, True, detail=detail)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._api.aclose()


def read_job(body: Any) -> ProviderStatus:
    """One reading of the job model (`GET /assets/{jobId}`)."""
    if not isinstance(body, dict):
        raise ProviderUnavailable(detail="job answer is not a JSON object")
    status: dict[str, Any] = st if isinstance(st := body.get("status"), dict) else {}
    kind = str(status.get("type") or "").lower()
    progress = status.get("progress") if isinstance(status.get("progress"), int) else None
    if kind == "completed":
        artifact: dict[str, Any] = a if isinstance(a := status.get("artifact"), dict) else {}
        url = artifact.get("assetUrl")
        if isinstance(url, str) and url:
            expires = str(artifact.get("expirationDateString") or "")
            # Epoch milliseconds, sent as a string.
            expires_at = int(expires) / 1000 if expires.isdigit() else None
            return ProviderStatus(
                ProviderJobState.SUCCEEDED, progress=100, video_url=url, url_expires_at=expires_at
            )
        # "completed" without the URL: the docs say the two may be out of sync; still running.
        return ProviderStatus(ProviderJobState.RUNNING, progress=progress)
    if kind == "failed":
        reason = str(status.get("message") or "")
        log.info("useapi job %s failed: %s", body.get("jobId"), reason)
        if any(word in reason.lower() for word in _SAFETY_WORDS):
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="content_rejected",
                error_message=_(SAFETY_MESSAGE),
            )
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
        )
    return ProviderStatus(ProviderJobState.RUNNING, progress=progress)


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """useapi's `{"error": "...", "code": N}` envelope."""
    detail = f"HTTP {status}: {error_message(body)}"
    if status == 400:
        return ProviderBadRequest(detail=detail)
    if status == 401:
        return ProviderAuthError(detail=detail)
    if status == 402:
        # "Subscription required" is useapi's own plan; anything else is LTX Studio's credits.
        lapsed = "subscription" in error_message(body).lower()
        return ProviderOutOfCredits(
            _(SUBSCRIPTION_MESSAGE) if lapsed else _(CREDITS_MESSAGE), detail=detail
        )
    if status == 404:
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        retry_after = retry_after_s(response)
        return ProviderRateLimited(
            retry_after=RATE_LIMIT_BACKOFF_S if retry_after is None else retry_after, detail=detail
        )
    return None


# The models useapi.net's LTX Studio API offered: Veo 2 / Veo 3 through veo-create, LTX-Video
# through ltx-create (docs/providers.md). All retired with the API on 2026-03-09 ("retired due to
# low demand … can be easily resurrected", useapi.net's docs banner; docs/providers.md §8): the
# adapter stays for the day it comes back; the catalog refuses them until then.
_RETIRED_ON = "2026-03-09"
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="useapi",
        retired_on=_RETIRED_ON,
        retired_by="useapi.net",
        id="veo2",
        label="Veo 2 (LTX Studio)",
        description="Google Veo 2 through LTX Studio: animates a first frame.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({InputKind.FIRST_FRAME}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
        default=True,
    ),
    ModelSpec(
        provider="useapi",
        retired_on=_RETIRED_ON,
        retired_by="useapi.net",
        id="veo3",
        label="Veo 3 (LTX Studio)",
        description="Google Veo 3 with native sound, from text or a first frame.",
        durations=(8,),
        default_duration=8,
        aspect_ratios=("16:9",),
        resolutions=("1080p", "720p"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        retired_on=_RETIRED_ON,
        retired_by="useapi.net",
        id="veo3-fast",
        label="Veo 3 Fast (LTX Studio)",
        description="Google Veo 3 Fast: text to video.",
        durations=(8,),
        default_duration=8,
        aspect_ratios=("16:9",),
        resolutions=("1080p", "720p"),
        inputs=frozenset({InputKind.TEXT}),
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        retired_on=_RETIRED_ON,
        retired_by="useapi.net",
        id="ltxv-turbo",
        label="LTX-Video Turbo",
        description="LTX-Video, fast: animates a first and/or last frame.",
        durations=(3, 5, 7, 9, 15, 30),
        default_duration=3,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        retired_on=_RETIRED_ON,
        retired_by="useapi.net",
        id="ltxv",
        label="LTX-Video",
        description="LTX-Video: animates a first and/or last frame.",
        durations=(3, 5, 7, 9, 15, 30),
        default_duration=3,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
)
