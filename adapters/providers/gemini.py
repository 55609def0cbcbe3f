"""Google's Gemini API (Veo), PROVIDERS.md §4: `predictLongRunning` starts a long-running
operation, `GET /v1beta/{operation name}` follows it, and the result's file URI is downloaded
with the key, which never follows a redirect to Google's storage host.

The Developer API takes images only inline (base64) and refuses Vertex-only fields such as
`seed` and `generateAudio`, so neither is ever sent.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from adapters.providers._http import ApiClient, decode_data_uri, retry_after_s
from bot.catalog import EIGHT_ONLY_HIGH_RES, WIDE_TALL, DurationRule, InputKind, ModelSpec
from bot.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderOutOfCredits,
    ProviderRateLimited,
    ProviderUnavailable,
)
from bot.models import GenerationRequest, ImageInput, ProviderJobState, ProviderStatus

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"

SAFETY_MESSAGE = (
    "Google's safety filter blocked this video. Try describing it differently, "
    "or use another image."
)
NO_OUTPUT_MESSAGE = "Veo finished without returning a video. Please try again."
MODEL_UNAVAILABLE_MESSAGE = (
    "This Veo model is not available to the bot's Google account (it may have been retired). "
    "Pick another model, or ask an admin."
)
ACCOUNT_REFUSED_MESSAGE = (
    "Google refused to run Veo for the bot's account (billing or region settings); "
    "an admin needs to check it."
)
DAILY_QUOTA_MESSAGE = (
    "The bot has used up today's Veo allowance at Google. Try again tomorrow, "
    "or ask an admin to raise the limit."
)
LAST_FRAME_ALONE_MESSAGE = (
    "Veo needs a first frame to go with a last frame: attach both, or only a first frame."
)

_CANNOT_MAKE = "Veo could not make a video from this request. Try a different prompt or image."
_OVER_LIMIT = "Veo is over its usage limit right now. Please try again later."
_KEY_NOT_ALLOWED = "The bot's Google key may not use this model; an admin needs to check it."
# google.rpc.Code of a failed operation -> what people are told.
_OPERATION_FAILURES: dict[int, str] = {
    3: _CANNOT_MAKE,  # INVALID_ARGUMENT
    9: _CANNOT_MAKE,  # FAILED_PRECONDITION
    11: _CANNOT_MAKE,  # OUT_OF_RANGE
    8: _OVER_LIMIT,  # RESOURCE_EXHAUSTED
    7: _KEY_NOT_ALLOWED,  # PERMISSION_DENIED
    16: _KEY_NOT_ALLOWED,  # UNAUTHENTICATED
}
_OPERATION_FAILED = "Veo ran into a problem while making this video. Please try again."


class GeminiProvider:
    name = "gemini"
    idempotent_submit = False  # every predictLongRunning call starts (and bills) a new operation
    poll_interval_s: float | None = None

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # PROVIDERS.md gives the base with the version, DESIGN.md without: accept both.
        root = base_url.rstrip("/").removesuffix(f"/{API_VERSION}")
        self._api = ApiClient(
            root, {"x-goog-api-key": api_key}, map_error=map_error, transport=transport
        )

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        if request.model is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        body = request_body(job_id, request, callback_url=callback_url)
        path = f"{API_VERSION}/models/{request.model}:predictLongRunning"
        try:
            answer = await self._api.json("POST", path, json_body=body)
        except ProviderBadRequest as err:
            if "personGeneration" not in err.detail:
                raise
            # Some regions and projects refuse the documented value (EU/UK refuse allow_all);
            # nothing started, so ask again and let Google apply its own default.
            log.info("gemini refused personGeneration, submitting without it: %s", err.detail)
            del body["parameters"]["personGeneration"]
            answer = await self._api.json("POST", path, json_body=body)
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not name:
            # Not retryable: the operation may have started, and a second submit bills again.
            raise ProviderError(detail="predictLongRunning answered without an operation name")
        return name

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        body = await self._api.json("GET", f"{API_VERSION}/{provider_job_id.lstrip('/')}")
        return read_operation(provider_job_id, body)

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        del provider_job_id  # this API has no cancel call: the job runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        del (
            headers,
            body,
            now,
        )  # the Gemini API's per-request webhooks are not used: the core re-polls

    async def aclose(self) -> None:
        await self._api.aclose()


def _inline(image: ImageInput) -> dict[str, str]:
    return {
        "bytesBase64Encoded": base64.b64encode(image.data).decode("ascii"),
        "mimeType": image.mime,
    }


def _source_video(uri: str) -> dict[str, str]:
    if uri.startswith("data:"):  # an earlier result that came back inline, not as a file
        mime = uri.removeprefix("data:").partition(",")[0].removesuffix(";base64") or "video/mp4"
        return {
            "encodedVideo": base64.b64encode(decode_data_uri(uri)).decode("ascii"),
            "encoding": mime,
        }
    return {"uri": uri}


def request_body(
    job_id: str, request: GenerationRequest, *, callback_url: str | None
) -> dict[str, Any]:
    """The predictLongRunning body of PROVIDERS.md §4.2 for a validated request."""
    if request.last_frame is not None and request.first_frame is None:
        raise ProviderBadRequest(LAST_FRAME_ALONE_MESSAGE, detail="lastFrame without image")
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.first_frame is not None:
        instance["image"] = _inline(request.first_frame)
    if request.last_frame is not None:
        instance["lastFrame"] = _inline(request.last_frame)
    if request.reference_images:
        instance["referenceImages"] = [
            {"image": _inline(image), "referenceType": "asset"}
            for image in request.reference_images
        ]
    if request.source_video is not None:
        instance["video"] = _source_video(request.source_video)
    has_image = bool(request.first_frame or request.last_frame or request.reference_images)
    parameters: dict[str, Any] = {
        "aspectRatio": request.aspect_ratio,
        "durationSeconds": request.duration_s,
    }
    # Veo 2 renders 720p only and its parameter table has no resolution: leave it out there.
    if request.resolution is not None and not (request.model or "").startswith("veo-2"):
        parameters["resolution"] = request.resolution
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    parameters["personGeneration"] = "allow_adult" if has_image else "allow_all"
    parameters["sampleCount"] = 1
    body: dict[str, Any] = {"instances": [instance], "parameters": parameters}
    if callback_url is not None:
        body["webhookConfig"] = {"uris": [callback_url], "userMetadata": {"job_id": job_id}}
    return body


def _video_url(video: Any) -> str | None:
    if not isinstance(video, dict):
        return None
    uri = video.get("uri")
    if isinstance(uri, str) and uri:
        return uri
    encoded = video.get("encodedVideo")
    if isinstance(encoded, str) and encoded:
        return f"data:{video.get('encoding') or 'video/mp4'};base64,{encoded}"
    return None


def read_operation(name: str, body: Any) -> ProviderStatus:
    """One reading of a long-running operation (PROVIDERS.md §4.3, §6.2)."""
    if not isinstance(body, dict):
        raise ProviderUnavailable(detail="operation answer is not a JSON object")
    if body.get("done") is not True:
        return ProviderStatus(ProviderJobState.RUNNING)
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        log.info("gemini operation %s failed: code %s: %s", name, code, error.get("message"))
        message = _OPERATION_FAILED
        if isinstance(code, int):
            message = _OPERATION_FAILURES.get(code, _OPERATION_FAILED)
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=message
        )
    response = body.get("response")
    result = response.get("generateVideoResponse") if isinstance(response, dict) else None
    result = result if isinstance(result, dict) else {}
    samples = result.get("generatedSamples")
    for sample in samples if isinstance(samples, list) else []:
        url = _video_url(sample.get("video") if isinstance(sample, dict) else None)
        if url is not None:
            return ProviderStatus(ProviderJobState.SUCCEEDED, progress=100, video_url=url)
    filtered = result.get("raiMediaFilteredCount")
    if isinstance(filtered, int) and filtered > 0:
        # The reasons can quote the prompt back: they go to the log, never to the channel.
        log.info("gemini operation %s filtered: %s", name, result.get("raiMediaFilteredReasons"))
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="content_rejected", error_message=SAFETY_MESSAGE
        )
    return ProviderStatus(
        ProviderJobState.FAILED, error_code="no_output", error_message=NO_OUTPUT_MESSAGE
    )


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _is_daily_quota(message: str, details: list[dict[str, Any]]) -> bool:
    texts = [message]
    for detail in details:
        for violation in detail.get("violations") or []:
            if isinstance(violation, dict):
                texts += [str(violation.get("quotaId", "")), str(violation.get("quotaMetric", ""))]
    squashed = "".join(texts).lower().replace("_", "").replace("-", "").replace(" ", "")
    return "perday" in squashed


def _retry_delay_s(details: list[dict[str, Any]]) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` ("20s", "1.5s"), Google's own form of Retry-After."""
    for detail in details:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """Google's envelope `{"error": {code, message, status, details}}` to our errors;
    None leaves the shared default (5xx, 408 and 409 are retried as unavailable)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "")
    google_status = str(error.get("status") or "")
    details = _details(error)
    detail = f"HTTP {status} {google_status}: {message}"
    reasons = {str(d.get("reason")) for d in details}
    if status == 400:
        if "API_KEY_INVALID" in reasons or "api key" in message.lower():
            return ProviderAuthError(detail=detail)
        if google_status == "FAILED_PRECONDITION":
            return ProviderBadRequest(ACCOUNT_REFUSED_MESSAGE, detail=detail)
        return ProviderBadRequest(detail=detail)
    if status in (401, 403):
        return ProviderAuthError(detail=detail)
    if status == 404:
        if response.request.url.path.endswith(":predictLongRunning"):
            return ProviderBadRequest(MODEL_UNAVAILABLE_MESSAGE, detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        # A per-day quota does not refill within the job's retry window, so retrying only
        # delays the answer: say plainly it is spent. Every Google 429 mentions "billing",
        # so that word alone marks nothing.
        if _is_daily_quota(message, details):
            return ProviderOutOfCredits(DAILY_QUOTA_MESSAGE, detail=detail)
        header = retry_after_s(response)
        return ProviderRateLimited(
            retry_after=header if header is not None else _retry_delay_s(details), detail=detail
        )
    return None


# The models the Gemini API offers. Its Developer API takes no seed and no audio flag.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="gemini",
        id="veo-3.1-fast-generate-preview",
        label="Veo 3.1 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset(
            {InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME, InputKind.VIDEO}
        ),
        max_prompt_chars=2000,
        seed=False,
        can_extend=True,
        duration_rules=EIGHT_ONLY_HIGH_RES,
        default=True,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.1-generate-preview",
        label="Veo 3.1",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset(
            {
                InputKind.TEXT,
                InputKind.FIRST_FRAME,
                InputKind.LAST_FRAME,
                InputKind.REFERENCES,
                InputKind.VIDEO,
            }
        ),
        max_references=3,
        max_prompt_chars=2000,
        seed=False,
        can_extend=True,
        duration_rules=(*EIGHT_ONLY_HIGH_RES, DurationRule("references", (8,))),
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.0-generate-001",
        label="Veo 3",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=2000,
        seed=False,
        duration_rules=EIGHT_ONLY_HIGH_RES,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.0-fast-generate-001",
        label="Veo 3 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=2000,
        seed=False,
        duration_rules=EIGHT_ONLY_HIGH_RES,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-2.0-generate-001",
        label="Veo 2",
        durations=(5, 6, 7, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=2000,
        seed=False,
    ),
)
