"""OpenAI-style video gateways (the new-api / one-api family): `POST /v1/video/generations`.

Two request dialects (`GATEWAY_DIALECT`): `images` (tokensmind's: an `images` list, `seconds`
as a string, `size`) and `veo31` (uniall's: `image`, `last_image`, reference `images`, `video` to
extend, integer `duration`, `extra_body`). Status comes in any of the shapes gateways serve —
wrapped in `{code, data}` or not, status strings in any case, progress as an int or "NN%" —
and is read defensively. Result URLs on the gateway's own host get the key; others do not.
The OpenAI video object (Shape D) carries no URL at all: its video is fetched from the
gateway's `GET /v1/videos/{id}/content` with the same key (docs/providers.md §6).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from adapters.providers._http import ApiClient, error_message, health_from_error
from bot.budget import ProviderLimits, per_minute
from bot.catalog import WIDE_TALL, DurationRule, InputKind, ModelSpec
from bot.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderOutOfCredits,
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

Dialect = Literal["images", "veo31"]

SAFETY_MESSAGE = N_(
    "The video provider's safety filter refused this prompt or image. "
    "Try describing it differently."
)
FAILED_MESSAGE = N_("The video provider could not make this video. Please try again.")
NO_OUTPUT_MESSAGE = N_("The video provider finished without returning a video. Please try again.")
EXPIRED_MESSAGE = N_("The video provider no longer has this video; it expired.")
_SAFETY_WORDS = ("moderat", "safety", "policy", "inappropriate", "prohibited", "nsfw", "rai")

# Every status string gateways answer (new-api's task states, the OpenAI video object's and
# the vendors' own), lower-cased; anything else is still running.
_QUEUED = {"queued", "pending", "not_start", "submitted"}
_SUCCEEDED = {"completed", "succeeded", "success"}
_FAILED = {
    "failed",
    "failure",
    "error",
    "cancelled",
    "canceled",
    "video_generation_failed",
    "video_upsampling_failed",
}


class RouteMissing(ProviderError):
    """The gateway has no such route (404 "Invalid URL"), as opposed to no such task."""

    default_code = "gateway_route_missing"


class GatewayProvider:
    """An OpenAI-style video gateway (new-api / one-api) as a `VideoProvider`, in either dialect."""

    name = "gateway"
    idempotent_submit = False  # every POST starts (and bills) a new task
    poll_interval_s: float | None = None
    # ❓ Gateway-specific and undocumented (docs/providers.md §2.7): a moderate guess, which
    # a 429 shrinks; VEO_BUDGET_GATEWAY_* replace it.
    limits = ProviderLimits(submit=per_minute(60), status=per_minute(300))

    def __init__(
        self,
        base_url: str,
        api_key: str,
        links: MediaLinks,
        *,
        dialect: Dialect = "images",
        status_path: Literal["generations", "videos"] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.dialect = dialect
        self._links = links
        # uniall polls /v1/videos/{id}; tokensmind /v1/video/generations.
        self._status_path = status_path or ("videos" if dialect == "veo31" else "generations")
        self._api = ApiClient(
            base_url,
            {"Authorization": f"Bearer {api_key}"},
            map_error=map_error,
            transport=transport,
        )

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Start a task with `POST /v1/video/generations`; return the gateway's task id."""
        del callback_url  # new-api has no per-task webhook: the core polls
        answer = await self._api.json(
            "POST", "v1/video/generations", json_body=self.request_body(job_id, request)
        )
        body = _unwrap(answer)
        task_id = body.get("id") or body.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError(detail="the gateway answered without a task id")
        return task_id

    def _link(self, job_id: str, role: MediaRole, position: int, request: GenerationRequest) -> str:
        image = {
            MediaRole.FIRST_FRAME: request.first_frame,
            MediaRole.LAST_FRAME: request.last_frame,
        }.get(role) or request.reference_images[position]
        return self._links.image_ref(job_id, role, position, image)

    def request_body(self, job_id: str, request: GenerationRequest) -> dict[str, Any]:
        """The body in this gateway's dialect (`images` or `veo31`) for a validated request."""
        body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
        if self.dialect == "images":  # tokensmind's fields
            body["aspect_ratio"] = request.aspect_ratio
            body["seconds"] = str(request.duration_s)
            body["size"] = request.resolution
            if request.first_frame is not None:
                body["images"] = [self._link(job_id, MediaRole.FIRST_FRAME, 0, request)]
            return body
        # uniall's fields
        body["size"] = request.resolution
        if request.source_video is not None:
            body["video"] = request.source_video  # extension takes neither aspect nor duration
        else:
            body["aspect_ratio"] = request.aspect_ratio
            body["duration"] = request.duration_s
        if request.first_frame is not None:
            body["image"] = self._link(job_id, MediaRole.FIRST_FRAME, 0, request)
        if request.last_frame is not None:
            body["last_image"] = self._link(job_id, MediaRole.LAST_FRAME, 0, request)
        if request.reference_images:
            body["images"] = [
                self._link(job_id, MediaRole.REFERENCE, i, request)
                for i in range(len(request.reference_images))
            ]
        extra: dict[str, Any] = {"generate_audio": bool(request.audio)}
        if request.negative_prompt:
            extra["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            extra["seed"] = request.seed
        body["extra_body"] = extra
        return body

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the task's status, switching for good to the other route if this one is missing."""
        content = str(self._api.url(f"v1/videos/{quote(provider_job_id, safe='')}/content"))
        try:
            answer = await self._api.json("GET", self._status_url(provider_job_id))
        except RouteMissing:
            # This gateway serves status on the other route: switch for good and ask there.
            self._status_path = "generations" if self._status_path == "videos" else "videos"
            log.info("gateway: status route missing, using /%s", self._status_path)
            answer = await self._api.json("GET", self._status_url(provider_job_id))
        return read_task(answer, content_url=content)

    def _status_url(self, provider_job_id: str) -> str:
        if self._status_path == "videos":
            return f"v1/videos/{provider_job_id}"
        return f"v1/video/generations/{provider_job_id}"

    async def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the video; "not completed yet" just after completion is a retry, not a failure."""
        try:
            async for chunk in self._api.stream(status.video_url):
                yield chunk
        except ProviderBadRequest as err:
            # new-api's `/content` answers 400 "Task is not completed yet" for a moment after
            # the video object says completed: ask again shortly, as after an outage.
            if "not completed" not in err.detail.lower():
                raise
            raise ProviderUnavailable(detail=err.detail) from None

    async def cancel(self, provider_job_id: str) -> bool:
        """False at once: these gateways have no cancel call, the task runs to its end."""
        del provider_job_id  # this API has no cancel call: the job runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing to check: gateways do not sign callbacks, so the core polls instead."""
        del (
            headers,
            body,
            now,
        )  # gateways do not sign callbacks: the core re-polls instead of trusting them

    async def health(self) -> ProviderHealth:
        """OpenAI-style `GET /v1/models`: the models this key may use (new-api's TokenAuth)."""
        try:
            answer = await self._api.json("GET", "v1/models")
        except ProviderError as err:
            return health_from_error(err)
        data = answer.get("data") if isinstance(answer, dict) else None
        ids = frozenset(
            str(item["id"])
            for item in (data if isinstance(data, list) else [])
            if isinstance(item, dict) and "id" in item
        )
        return ProviderHealth(True, True, ids or None, detail=f"{len(ids)} models listed")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._api.aclose()


def _unwrap(body: Any) -> dict[str, Any]:
    """Shapes B and C wrap the task in `{"code": "success", "data": {...}}`."""
    if not isinstance(body, dict):
        raise ProviderUnavailable(detail="the gateway's answer is not a JSON object")
    data = body.get("data")
    if isinstance(data, dict) and ("code" in body or "status" not in body):
        return data
    return body


def _progress(value: Any) -> int | None:
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().rstrip("%").isdigit():
        return int(value.strip().rstrip("%"))
    return None


def _url(task: dict[str, Any]) -> str | None:
    metadata: dict[str, Any] = m if isinstance(m := task.get("metadata"), dict) else {}
    inner: dict[str, Any] = d if isinstance(d := task.get("data"), dict) else {}
    output = task.get("output")
    urls = metadata.get("urls") if isinstance(metadata.get("urls"), list) else []
    for candidate in (
        task.get("url"),
        task.get("result_url"),
        metadata.get("url"),
        output[0] if isinstance(output, list) and output else output,
        inner.get("output"),
        task.get("video_url"),
        urls[0] if urls else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _reason(task: dict[str, Any]) -> str:
    error = task.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")
    return str(error or task.get("fail_reason") or "")


def read_task(answer: Any, *, content_url: str | None = None) -> ProviderStatus:
    """One reading of a task in any shape gateways answer (in a `{code, data}` wrapper or
    bare, a new-api task or an OpenAI video object, status and progress as they come). A completed
    OpenAI video object (Shape D) names no URL: its video is at `content_url`, the gateway's
    `/v1/videos/{id}/content`."""
    task = _unwrap(answer)
    status = str(task.get("status") or "").strip().lower()
    progress = _progress(task.get("progress"))
    if status == "expired":
        return ProviderStatus(
            ProviderJobState.FAILED,
            error_code="provider_job_not_found",
            error_message=_(EXPIRED_MESSAGE),
        )
    if status in _SUCCEEDED:
        url = _url(task)
        if url is None and task.get("object") == "video":
            url = content_url
        if url is None:
            return ProviderStatus(
                ProviderJobState.FAILED, error_code="no_output", error_message=_(NO_OUTPUT_MESSAGE)
            )
        return ProviderStatus(ProviderJobState.SUCCEEDED, progress=100, video_url=url)
    if status in _FAILED:
        reason = _reason(task)
        log.info("gateway task %s failed: %s", task.get("task_id") or task.get("id"), reason)
        if any(word in reason.lower() for word in _SAFETY_WORDS):
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="content_rejected",
                error_message=_(SAFETY_MESSAGE),
            )
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
        )
    if status in _QUEUED:
        return ProviderStatus(ProviderJobState.QUEUED, progress=progress)
    return ProviderStatus(ProviderJobState.RUNNING, progress=progress)


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """new-api's `{code, message}` task errors and the OpenAI `{error: {...}}` envelope."""
    code = ""
    if isinstance(body, dict):
        error = body.get("error")
        code = str(
            (error.get("code") if isinstance(error, dict) else None) or body.get("code") or ""
        )
    message = error_message(body).lower()
    detail = f"HTTP {status} {code}: {error_message(body)}"
    if code == "task_not_exist":
        return ProviderJobNotFound(detail=detail)
    if status == 404 and "invalid url" in message:
        return RouteMissing(detail=detail)
    if code == "insufficient_quota" or (
        status == 403 and ("quota" in message or "insufficient" in message)
    ):
        return ProviderOutOfCredits(detail=detail)
    if status == 400:
        return ProviderBadRequest(detail=detail)
    if status in (401, 403):
        return ProviderAuthError(detail=detail)
    return None  # 429 (with Retry-After) and 5xx: the shared defaults


# Dialect "images": Veo 2 / 3 / 3.1 ids, an `images` list and `seconds` as a string. Google
# retired Veo 2 and 3.0 everywhere on 2026-06-30, and the Gemini API's Veo 3.1 preview ids on
# 2026-10-22: a gateway serves those only from another upstream (docs/providers.md §8, S).
_PREVIEW_GONE = "Google shut these ids down on the Gemini API on 2026-10-22"
IMAGES_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="gateway",
        id="veo-3.1-fast-generate-preview",
        at_risk=_PREVIEW_GONE,
        label="Veo 3.1 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
        duration_rules=(DurationRule("image", (8,)),),
        default=True,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.1-generate-preview",
        at_risk=_PREVIEW_GONE,
        label="Veo 3.1",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
        duration_rules=(DurationRule("image", (8,)),),
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.0-fast-generate-001",
        # Upstream, on the Gemini API and Vertex alike (docs/providers.md §8, S).
        retired_on="2026-06-30",
        retired_by="Google",
        label="Veo 3 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.0-generate-001",
        # Upstream, on the Gemini API and Vertex alike (docs/providers.md §8, S).
        retired_on="2026-06-30",
        retired_by="Google",
        label="Veo 3",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-2.0-generate-001",
        # Upstream, on the Gemini API and Vertex alike (docs/providers.md §8, S).
        retired_on="2026-06-30",
        retired_by="Google",
        label="Veo 2",
        durations=(5, 6, 7, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
)


def _veo31_gateway(resolution: str, *, fast: bool) -> ModelSpec:
    kind = "fast-video" if fast else "video"
    return ModelSpec(
        provider="gateway",
        id=f"veo3.1-{kind}-{resolution}",
        label=f"Veo 3.1{' Fast' if fast else ''} {resolution}",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=(resolution,),
        inputs=frozenset(
            {InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME, InputKind.VIDEO}
            if fast
            else {
                InputKind.TEXT,
                InputKind.FIRST_FRAME,
                InputKind.LAST_FRAME,
                InputKind.REFERENCES,
                InputKind.VIDEO,
            }
        ),
        max_references=0 if fast else 3,
        min_references=2,
        max_prompt_chars=5000,
        audio=True,
        can_extend=True,
        default=fast and resolution == "720p",
    )


# Dialect "veo31": Veo 3.1 by resolution, with last frame, references (not on fast) and extension.
VEO31_MODELS: tuple[ModelSpec, ...] = tuple(
    _veo31_gateway(resolution, fast=fast)
    for fast in (True, False)
    for resolution in ("720p", "1080p", "4k")
)
