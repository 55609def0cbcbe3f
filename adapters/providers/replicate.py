"""Replicate predictions (docs/providers.md §4): Google's Veo 3.1 as `google/veo-3.1` and
`google/veo-3.1-fast`, created with `POST /v1/models/{owner}/{name}/predictions`, read with
`GET /v1/predictions/{id}` (`starting`, `processing`, `succeeded`, `failed`, `canceled`;
`output` is the video's URL) and stopped with `POST /v1/predictions/{id}/cancel`.

Webhooks ask for the `completed` event only and are verified the Standard Webhooks way with
the account's signing secret: `REPLICATE_WEBHOOK_SECRET`, else fetched once from
`GET /v1/webhooks/default/secret`. Replicate deletes a prediction's output after an hour; a
reading after that says so in plain words instead of pointing at a URL that is gone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.providers._http import ApiClient, error_message, parse_body, retry_after_s
from bot import webhooks
from bot.budget import ProviderLimits, per_minute
from bot.catalog import WIDE_TALL, DurationRule, InputKind, ModelSpec
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
from bot.webhooks import InvalidSignature

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.replicate.com"
SECRET_PATH = "v1/webhooks/default/secret"  # noqa: S105 - a path, not a secret
# A failed fetch of the signing secret is not tried again sooner than this: callbacks meanwhile
# are refused (polling carries on), and none of them can make the bot hammer Replicate.
SECRET_RETRY_S = 60.0
# "output files … are automatically removed after an hour" (docs/providers.md §4.4).
OUTPUT_LIFETIME_S = 3600.0

SAFETY_MESSAGE = N_(
    "The safety filter refused this prompt or image. Try describing it differently, "
    "or use another image."
)
FAILED_MESSAGE = N_("Replicate could not make this video. Please try again.")
NO_OUTPUT_MESSAGE = N_("Replicate finished without returning a video. Please try again.")
CANCELLED_MESSAGE = N_("The video was cancelled at Replicate before it was made.")
EXPIRED_MESSAGE = N_(
    "Replicate deleted the video before the bot could fetch it (it keeps results for an hour). "
    "Please ask again."
)
MODEL_UNAVAILABLE_MESSAGE = N_(
    "This Veo model is not available at Replicate (it may have been retired). "
    "Pick another model, or ask an admin."
)
REFERENCES_WITH_FRAMES_MESSAGE = N_(
    "Veo 3.1 takes reference images or frames, not both: remove one or the other."
)
REFERENCES_WIDE_ONLY_MESSAGE = N_("Veo 3.1 uses reference images only at 16:9.")
LAST_FRAME_ALONE_MESSAGE = N_(
    "Veo needs a first frame to go with a last frame: attach both, or only a first frame."
)
# Replicate's code for "The input or output was flagged as sensitive" (E005), and its words.
_SAFETY_WORDS = ("e005", "flagged as sensitive", "sensitive content", "safety", "nsfw")
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_RESETS_IN = re.compile(r"resets in ~?(\d+(?:\.\d+)?)\s*s")
_STATES = {
    "starting": ProviderJobState.QUEUED,
    "processing": ProviderJobState.RUNNING,
}


class ReplicateProvider:
    """Replicate predictions as a `VideoProvider`: Veo 3.1, Standard Webhooks signatures."""

    name = "replicate"
    idempotent_submit = False  # every create starts (and bills) a new prediction
    poll_interval_s: float | None = None
    # replicate.com/docs/topics/predictions/rate-limits: creating predictions 600 a minute,
    # every other endpoint 3000 a minute. VEO_BUDGET_REPLICATE_* replace it.
    limits = ProviderLimits(submit=per_minute(600), status=per_minute(3000))
    # It calls back when a job ends: polls are then only the safety net.
    calls_back = True

    def __init__(
        self,
        api_token: str,
        links: MediaLinks,
        *,
        base_url: str = DEFAULT_BASE_URL,
        webhook_secret: str | None = None,
        secret_retry_s: float = SECRET_RETRY_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._links = links
        self._api = ApiClient(
            base_url,
            {"Authorization": f"Bearer {api_token}"},
            map_error=map_error,
            transport=transport,
        )
        self._secret = webhook_secret
        self._secret_retry_s = secret_retry_s
        self._secret_tried_at: float | None = None
        self._secret_lock = asyncio.Lock()

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Create a prediction (with the `completed` webhook when given a URL); return its id."""
        if request.model is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        body: dict[str, Any] = {"input": self.request_input(job_id, request)}
        if callback_url is not None:
            body["webhook"] = callback_url
            body["webhook_events_filter"] = ["completed"]
        answer = await self._api.json(
            "POST", f"v1/models/{request.model}/predictions", json_body=body
        )
        prediction_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(prediction_id, str) or not _PREDICTION_ID.fullmatch(prediction_id):
            # Not retryable: the prediction may have started, and a second create bills again.
            raise ProviderError(detail="Replicate answered without a usable prediction id")
        return prediction_id

    def request_input(self, job_id: str, request: GenerationRequest) -> dict[str, Any]:
        """The model's `input` for a validated request (docs/providers.md §4.3)."""
        has_frames = request.first_frame is not None or request.last_frame is not None
        if request.reference_images and has_frames:
            # Replicate would silently drop the last frame; say so before anything is spent.
            raise ProviderBadRequest(_(REFERENCES_WITH_FRAMES_MESSAGE), detail="refs with frames")
        if request.reference_images and request.aspect_ratio != "16:9":
            raise ProviderBadRequest(_(REFERENCES_WIDE_ONLY_MESSAGE), detail="refs not at 16:9")
        if request.last_frame is not None and request.first_frame is None:
            raise ProviderBadRequest(_(LAST_FRAME_ALONE_MESSAGE), detail="last frame without first")
        values: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "duration": request.duration_s,
            # Always sent: the two models' defaults differ (docs/providers.md §4.3).
            "resolution": request.resolution,
            "generate_audio": bool(request.audio),
        }
        if request.negative_prompt:
            values["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            values["seed"] = request.seed
        link = self._links.image_ref
        if request.first_frame is not None:
            values["image"] = link(job_id, MediaRole.FIRST_FRAME, 0, request.first_frame)
        if request.last_frame is not None:
            values["last_frame"] = link(job_id, MediaRole.LAST_FRAME, 0, request.last_frame)
        if request.reference_images:
            values["reference_images"] = [
                link(job_id, MediaRole.REFERENCE, i, image)
                for i, image in enumerate(request.reference_images)
            ]
        return values

    def _path(self, prediction_id: str, suffix: str = "") -> str:
        if not _PREDICTION_ID.fullmatch(prediction_id):
            raise ProviderJobNotFound(detail="not a Replicate prediction id")
        return f"v1/predictions/{prediction_id}{suffix}"

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the prediction from `GET /v1/predictions/{id}`."""
        return read_prediction(await self._api.json("GET", self._path(provider_job_id)))

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the output from replicate.delivery, without the token (another host)."""
        # Outputs are served by replicate.delivery, another host: the token is not sent there.
        return self._api.stream(status.video_url)

    async def cancel(self, provider_job_id: str) -> bool:
        """Cancel the prediction so it stops costing; False when there was nothing to cancel."""
        try:
            response = await self._api.request("POST", self._path(provider_job_id, "/cancel"))
        except ProviderJobNotFound as err:
            log.info("replicate prediction %s: nothing to cancel: %s", provider_job_id, err)
            return False
        body = parse_body(response)
        return isinstance(body, dict) and body.get("status") == "canceled"

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Check the webhook's signature with the signing secret (configured, or the account's)."""
        secret = await self._webhook_secret(now)
        if secret is None:
            raise InvalidSignature("Replicate's signing secret is not known yet")
        webhooks.verify(secret, headers, body, now=now)

    async def _webhook_secret(self, now: float) -> str | None:
        """REPLICATE_WEBHOOK_SECRET, else the account's secret fetched once (a failed fetch is
        tried again after `secret_retry_s`)."""
        if self._secret is not None:
            return self._secret
        async with self._secret_lock:
            if self._secret is not None:
                return self._secret
            if self._secret_tried_at is not None and now - self._secret_tried_at < (
                self._secret_retry_s
            ):
                return None
            self._secret_tried_at = now
            try:
                answer = await self._api.json("GET", SECRET_PATH)
            except ProviderError as err:
                log.warning("replicate webhook secret could not be fetched: %s", err)
                return None
            key = answer.get("key") if isinstance(answer, dict) else None
            if not _is_whsec(key):
                log.warning("replicate answered no usable webhook secret")
                return None
            self._secret = key
            return self._secret

    async def health(self) -> ProviderHealth:
        """For `veo-bot doctor`: whether Replicate answers and takes the token, and whose it is."""
        try:
            account = await self._api.json("GET", "v1/account")
        except ProviderAuthError:
            return ProviderHealth(
                True, False, detail="Replicate refused the token (REPLICATE_API_TOKEN)"
            )
        except ProviderUnavailable as err:
            return ProviderHealth(False, None, detail=f"Replicate did not answer ({err.code})")
        except ProviderError as err:
            return ProviderHealth(True, None, detail=f"Replicate answered oddly ({err.code})")
        name = account.get("username") if isinstance(account, dict) else None
        who = f" for account {name}" if isinstance(name, str) and name.isprintable() else ""
        return ProviderHealth(True, True, detail=f"Replicate took the token{who}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._api.aclose()


def _is_whsec(key: Any) -> bool:
    if not isinstance(key, str) or not key.startswith("whsec_"):
        return False
    try:
        return bool(base64.b64decode(key.removeprefix("whsec_"), validate=True))
    except binascii.Error:
        return False


def _output_url(output: Any) -> str | None:
    """Veo's output is one URL; a list of them is read too (other models answer so)."""
    if isinstance(output, list):
        output = next((item for item in output if isinstance(item, str)), None)
    return output if isinstance(output, str) and output else None


def _completed(completed_at: Any) -> float | None:
    """When the prediction completed (epoch seconds), if Replicate said so readably."""
    if not isinstance(completed_at, str):
        return None
    try:
        moment = datetime.fromisoformat(completed_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _expiry(completed_at: Any) -> float | None:
    """When Replicate deletes the output: an hour after the prediction completed."""
    completed = _completed(completed_at)
    return None if completed is None else completed + OUTPUT_LIFETIME_S


def read_prediction(body: Any) -> ProviderStatus:
    """One reading of a prediction (docs/providers.md §4.2); unknown states run on."""
    if not isinstance(body, dict):
        raise ProviderUnavailable(detail="prediction answer is not a JSON object")
    status = body.get("status")
    if status == "succeeded":
        url = _output_url(body.get("output"))
        if url is not None:
            return ProviderStatus(
                ProviderJobState.SUCCEEDED,
                progress=100,
                video_url=url,
                url_expires_at=_expiry(body.get("completed_at")),
                finished_at=_completed(body.get("completed_at")),
            )
        if body.get("data_removed"):
            # Past Replicate's hour: the video is gone for good.
            raise ProviderJobNotFound(_(EXPIRED_MESSAGE), detail="prediction data removed")
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="no_output", error_message=_(NO_OUTPUT_MESSAGE)
        )
    if status in ("failed", "aborted"):
        reason = str(body.get("error") or "")
        log.info("replicate prediction %s failed: %s", body.get("id"), reason)
        if any(word in reason.lower() for word in _SAFETY_WORDS):
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="content_rejected",
                error_message=_(SAFETY_MESSAGE),
            )
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
        )
    if status == "canceled":
        return ProviderStatus(
            ProviderJobState.FAILED,
            error_code="provider_cancelled",
            error_message=_(CANCELLED_MESSAGE),
        )
    return ProviderStatus(_STATES.get(str(status), ProviderJobState.RUNNING))


def _throttle_wait_s(response: httpx.Response, words: str) -> float | None:
    header = retry_after_s(response)
    if header is not None:
        return header
    match = _RESETS_IN.search(words)
    return float(match.group(1)) if match else None


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """Replicate's problem details `{type, title, status, detail}` to our errors; None leaves
    the shared default (5xx retried as unavailable)."""
    words = error_message(body)
    title = body.get("title") if isinstance(body, dict) else None
    detail = f"HTTP {status} {title or ''}: {words}"
    if status in (400, 422):
        return ProviderBadRequest(detail=detail)
    if status in (401, 403):
        return ProviderAuthError(detail=detail)
    if status == 402:
        return ProviderOutOfCredits(detail=detail)
    if status == 404:
        path = response.request.url.path
        if response.request.method == "POST" and path.endswith("/predictions"):
            return ProviderBadRequest(_(MODEL_UNAVAILABLE_MESSAGE), detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        return ProviderRateLimited(retry_after=_throttle_wait_s(response, words), detail=detail)
    return None


# Veo 3.1 at Replicate. Prices are not known: Replicate's own pages were not readable
# (docs/providers.md §4.5, §7, 2026-12-01), so none is guessed; the bot shows "price unknown",
# and money limits refuse these models until a verified price is entered here.
_UNKNOWN = "not found: replicate.com/google/veo-3.1 not readable (checked 2026-12-01)"
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="replicate",
        id="google/veo-3.1-fast",
        label="Veo 3.1 Fast (Replicate)",
        description="Google Veo 3.1 Fast on Replicate: text, a first frame, first + last.",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        max_prompt_chars=2000,
        audio=True,
        default=True,
        price_source=_UNKNOWN,
    ),
    ModelSpec(
        provider="replicate",
        id="google/veo-3.1",
        label="Veo 3.1 (Replicate)",
        description="Google Veo 3.1 on Replicate; also 1 to 3 reference images (8 s, 16:9).",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset(
            {InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME, InputKind.REFERENCES}
        ),
        max_references=3,
        max_prompt_chars=2000,
        audio=True,
        duration_rules=(DurationRule("references", (8,)),),
        price_source=_UNKNOWN,
    ),
)
