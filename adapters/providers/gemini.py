"""Google's Gemini API: Gemini Omni through the Interactions API (docs/providers.md §2).

`POST /v1beta/interactions` with `background: true` starts an interaction, `GET
/v1beta/interactions/{id}` follows it, `POST /v1beta/interactions/{id}/cancel` stops it. The
video is the last `video` item of the `model_output` steps after the last `user_input` step;
a completed interaction without one (text only) is a refusal. Frame roles are written as the
documented prompt tags (`[# Sources <FIRST_FRAME>@Image1 ...]`), and the Extend button chains
a new interaction to the earlier one with `previous_interaction_id`.

The poll answer carries the whole video as base64 even when `delivery: "uri"` was asked
(§2.4): the body is spooled (to disk once large), its long base64 strings are located without
being parsed into Python strings, and the video is decoded from there in chunks, so no second
copy is ever held. The Veo ids this API served are retired: they stay in the catalog as retired
entries, refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import mmap
import re
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote

import httpx

from adapters.providers._http import ApiClient, health_from_error, retry_after_s
from bot.budget import ProviderLimits, per_minute
from bot.catalog import EIGHT_ONLY_HIGH_RES, WIDE_TALL, DurationRule, InputKind, ModelSpec
from bot.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderModelRetired,
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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
OMNI = "gemini-omni-1.1-flash"

REFUSED_MESSAGE = N_(
    "Gemini Omni answered without making a video: it refuses prompts and images its safety "
    "rules do not allow. Try describing it differently, or use another image."
)
FAILED_MESSAGE = N_("Gemini Omni ran into a problem while making this video. Please try again.")
SAFETY_MESSAGE = N_(
    "Google's safety filter blocked this video. Try describing it differently, "
    "or use another image."
)
CANCELLED_MESSAGE = N_("The video was cancelled at Google before it was finished.")
INCOMPLETE_MESSAGE = N_("Gemini Omni stopped before the video was finished. Please try again.")
BUDGET_MESSAGE = N_(
    "The bot's Google account reached its spending limit; an admin needs to raise it."
)
ACTION_MESSAGE = N_(
    "Gemini Omni asked for a step the bot cannot take, so the video was stopped. Please try again."
)
MODEL_UNAVAILABLE_MESSAGE = N_(
    "This Gemini model is not available to the bot's Google account. "
    "Pick another model, or ask an admin."
)
EXTEND_GONE_MESSAGE = N_(
    "Google no longer has the earlier video, so it cannot be extended; make a new one."
)
EXTEND_FOREIGN_MESSAGE = N_(
    "Only videos made with Gemini Omni can be extended with it; make a new one instead."
)
LAST_FRAME_ALONE_MESSAGE = N_(
    "Gemini Omni needs a first frame to go with a last frame: attach both, or only a first frame."
)
ACCOUNT_REFUSED_MESSAGE = N_(
    "Google refused to run Gemini Omni for the bot's account (billing or region settings); "
    "an admin needs to check it."
)
DAILY_QUOTA_MESSAGE = N_(
    "The bot has used up today's Gemini allowance at Google. Try again tomorrow, "
    "or ask an admin to raise the limit."
)
_SAFETY_WORDS = ("safety", "blocked", "policy", "prohibited", "responsible ai", "rai")
# Interaction states (an open enum): anything else is read as still running.
_TERMINAL_FAILURES: dict[str, tuple[str, str]] = {
    "cancelled": ("provider_cancelled", _(CANCELLED_MESSAGE)),
    "incomplete": ("provider_incomplete", _(INCOMPLETE_MESSAGE)),
    "budget_exceeded": ("provider_out_of_credits", _(BUDGET_MESSAGE)),
    "requires_action": ("provider_requires_action", _(ACTION_MESSAGE)),
}
_FINISHED = {"completed", "failed", *_TERMINAL_FAILURES}

# Answers above this are spooled to a temporary file rather than kept in memory.
_SPOOL_IN_MEMORY = 1024 * 1024
# A JSON string of only base64 characters this long is a media payload: it is located, never
# parsed into a Python string. The look-behind skips escaped quotes inside other strings.
_BLOB = re.compile(rb'(?<!\\)"([A-Za-z0-9+/]{512,}={0,2})"')
_MARK = "\x00veo-blob:"
_DECODE_CHUNK = 256 * 1024  # base64 characters per decoded chunk: a multiple of 4
_KEPT_ANSWERS = 4  # finished answers kept between get_status and download
_MODEL_PAGES = 5  # pages of `models.list` read by health()


class _Spool:
    """A response body written as it streams in: in memory while small, then a temporary
    file (deleted on close), read back through one memory map."""

    def __init__(self) -> None:
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self._map: mmap.mmap | None = None

    async def write(self, chunk: bytes) -> None:
        if self._file is None and len(self._memory) + len(chunk) <= _SPOOL_IN_MEMORY:
            self._memory += chunk
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            await asyncio.to_thread(self._file.write, bytes(self._memory))
            self._memory = bytearray()
        await asyncio.to_thread(self._file.write, chunk)

    def view(self) -> bytes | mmap.mmap:
        if self._file is None:
            return bytes(self._memory)
        if self._map is None:
            self._file.flush()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        if self._file is not None:
            self._file.close()
        self._memory = bytearray()


@dataclass
class _Answer:
    """One interaction as read: its JSON with every long base64 string replaced by a marker,
    and the spooled body the marked strings are read back from."""

    tree: Any
    spans: list[tuple[int, int]]
    spool: _Spool


@dataclass(frozen=True)
class _Video:
    uri: str | None = None
    data: str | None = None  # base64, or a marker of a span in the spooled answer


def _parse(spool: _Spool) -> tuple[Any, list[tuple[int, int]]]:
    """The answer's JSON with long base64 strings left where they are (blocking)."""
    view = spool.view()
    parts: list[bytes] = []
    spans: list[tuple[int, int]] = []
    last = 0
    for match in _BLOB.finditer(view):
        parts.append(view[last : match.start()])
        parts.append(b'"\\u0000veo-blob:%d"' % len(spans))
        spans.append(match.span(1))
        last = match.end()
    parts.append(view[last:])
    try:
        return json.loads(b"".join(parts)), spans
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProviderUnavailable(detail="the interaction answer is not JSON") from None


class GeminiProvider:
    """Gemini Omni through the Interactions API as a `VideoProvider`, extend included."""

    name = "gemini"
    idempotent_submit = False  # every create starts (and bills) a new interaction
    poll_interval_s: float | None = None
    # Veo on the Gemini API: a few requests a minute per project for generation (RPM by
    # tier, ai.google.dev/gemini-api/docs/rate-limits); operation reads are cheap calls under
    # the project's general limit. VEO_BUDGET_GEMINI_* replace it.
    limits = ProviderLimits(submit=per_minute(10), status=per_minute(300))
    # It calls back when a job ends: polls are then only the safety net.
    calls_back = True

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # The base is documented with and without the version: accept both.
        root = base_url.rstrip("/").removesuffix(f"/{API_VERSION}")
        self._api = ApiClient(
            root, {"x-goog-api-key": api_key}, map_error=map_error, transport=transport
        )
        # Finished answers read by get_status, for the download that follows at once.
        self._answers: OrderedDict[str, _Answer] = OrderedDict()

    # --- the port -------------------------------------------------------------------------

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Start a background interaction (chained to the earlier one to extend); return its id."""
        if request.model is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        previous = self.interaction_id(request.source_video) if request.source_video else None
        if request.source_video and previous is None:
            raise ProviderBadRequest(_(EXTEND_FOREIGN_MESSAGE), detail="source is no interaction")
        body = request_body(job_id, request, previous=previous, callback_url=callback_url)
        try:
            answer = await self._api.json("POST", f"{API_VERSION}/interactions", json_body=body)
        except (ProviderBadRequest, ProviderJobNotFound) as err:
            if previous is not None and "interaction" in err.detail.lower():
                raise ProviderBadRequest(_(EXTEND_GONE_MESSAGE), detail=err.detail) from None
            raise
        interaction_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(interaction_id, str) or not interaction_id:
            # Not retryable: the interaction may have started, and a second one bills again.
            raise ProviderError(detail="the create answer named no interaction id")
        return interaction_id

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the interaction; a finished one's answer is kept for the download that follows."""
        answer = await self._read(provider_job_id)
        url = self.interaction_url(provider_job_id)
        status = read_interaction(provider_job_id, answer.tree, url)
        if status.state is ProviderJobState.SUCCEEDED:
            self._keep(provider_job_id, answer)
        else:
            answer.spool.close()
        return status

    async def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the video decoded from the interaction's answer (kept, or read again)."""
        interaction_id = self.interaction_id(status.video_url)
        if interaction_id is None:
            raise ProviderJobNotFound(detail="the result names no interaction")
        answer = self._answers.pop(interaction_id, None) or await self._read(interaction_id)
        try:
            video = find_video(answer.tree)
            if video is None:
                raise ProviderJobNotFound(detail="the interaction no longer holds a video")
            if video.data is not None:
                async for chunk in _decoded(answer, video.data):
                    yield chunk
            elif video.uri is not None:
                await self._wait_for_file(video.uri)
                async for chunk in self._api.stream(video.uri):
                    yield chunk
        finally:
            answer.spool.close()

    async def cancel(self, provider_job_id: str) -> bool:
        """Cancel the running interaction; False when it had ended already."""
        path = f"{API_VERSION}/interactions/{quote(provider_job_id, safe='')}/cancel"
        try:
            answer = await self._api.json("POST", path)
        except (ProviderBadRequest, ProviderJobNotFound) as err:
            # Only running background interactions can be cancelled: it had ended already.
            log.info("gemini interaction %s not cancelled: %s", provider_job_id, err.detail)
            return False
        state = answer.get("status") if isinstance(answer, dict) else None
        return state not in ("completed", "failed", "incomplete", "budget_exceeded")

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing more to check: the URL token is the proof, and the core polls again."""
        # Per-request webhook deliveries are signed with Google's JWKS, a recipe not verified
        # (docs/providers.md §2.6): the URL token is the proof, and the core re-polls.
        del headers, body, now

    async def health(self) -> ProviderHealth:
        """`models.list`: the key is checked, and the ids it serves come back."""
        names: set[str] = set()
        token: str | None = None
        try:
            for _page in range(_MODEL_PAGES):
                params: dict[str, str | int] = {"pageSize": 1000}
                if token:
                    params["pageToken"] = token
                page = await self._api.json("GET", f"{API_VERSION}/models", params=params)
                models = page.get("models") if isinstance(page, dict) else None
                for model in models if isinstance(models, list) else []:
                    name = model.get("name") if isinstance(model, dict) else None
                    if isinstance(name, str):
                        names.add(name.removeprefix("models/"))
                token = page.get("nextPageToken") if isinstance(page, dict) else None
                if not token:
                    break
        except ProviderError as err:
            return health_from_error(err)
        return ProviderHealth(True, True, frozenset(names), detail=f"{len(names)} models listed")

    async def aclose(self) -> None:
        """Drop the answers kept for downloads and close the HTTP client."""
        for answer in self._answers.values():
            answer.spool.close()
        self._answers.clear()
        await self._api.aclose()

    # --- helpers --------------------------------------------------------------------------

    def interaction_url(self, interaction_id: str) -> str:
        """What a finished job keeps as its result: the interaction holding the video, which
        the Extend button chains to."""
        return str(self._api.url(f"{API_VERSION}/interactions/{quote(interaction_id, safe='')}"))

    def interaction_id(self, url: str | None) -> str | None:
        """The interaction a result URL of ours names, or None."""
        if not url:
            return None
        prefix = str(self._api.url(f"{API_VERSION}/interactions/"))
        if not url.startswith(prefix):
            return None
        name = unquote(url.removeprefix(prefix))
        return name if name and "/" not in name else None

    async def _read(self, interaction_id: str) -> _Answer:
        path = f"{API_VERSION}/interactions/{quote(interaction_id, safe='')}"
        spool = _Spool()
        try:
            async with self._api.streaming("GET", path) as response:
                async for chunk in response.aiter_bytes(_DECODE_CHUNK):
                    await spool.write(chunk)
            tree, spans = await asyncio.to_thread(_parse, spool)
        except BaseException:
            spool.close()
            raise
        return _Answer(tree, spans, spool)

    def _keep(self, interaction_id: str, answer: _Answer) -> None:
        old = self._answers.pop(interaction_id, None)
        if old is not None:
            old.spool.close()
        self._answers[interaction_id] = answer
        while len(self._answers) > _KEPT_ANSWERS:
            _key, dropped = self._answers.popitem(last=False)
            dropped.spool.close()

    async def _wait_for_file(self, uri: str) -> None:
        """A `uri` result can be fetched once its file is ACTIVE (§2.4)."""
        url = httpx.URL(uri)
        file_id = url.path.rpartition("/files/")[2].partition(":")[0]
        if not self._api.is_own_host(url) or not file_id:
            return
        info = await self._api.json("GET", f"{API_VERSION}/files/{quote(file_id, safe='')}")
        state = info.get("state") if isinstance(info, dict) else None
        if state == "FAILED":
            raise ProviderJobNotFound(detail=f"file {file_id} failed")
        if state not in (None, "ACTIVE"):
            raise ProviderUnavailable(detail=f"file {file_id} is {state}")


async def _decoded(answer: _Answer, data: str) -> AsyncIterator[bytes]:
    """The video's bytes, decoded a chunk at a time from where its base64 lies."""
    try:
        if not data.startswith(_MARK):
            yield base64.b64decode(data, validate=True)
            return
        start, end = answer.spans[int(data.removeprefix(_MARK))]
        view = answer.spool.view()
        for position in range(start, end, _DECODE_CHUNK):
            yield base64.b64decode(view[position : min(position + _DECODE_CHUNK, end)])
    except (binascii.Error, ValueError, IndexError):
        raise ProviderUnavailable(detail="undecodable base64 video") from None


# --- the request --------------------------------------------------------------------------


def _image(image: ImageInput) -> dict[str, str]:
    return {
        "type": "image",
        "data": base64.b64encode(image.data).decode("ascii"),
        "mime_type": image.mime,
    }


def prompt_text(request: GenerationRequest, *, extends: bool) -> str:
    """The prompt with the documented role declarations in front and the guiding sentence
    after, so two images are never taken for the wrong roles (OMNIDOC "Using tags")."""
    number = 0
    sources: list[str] = []
    guidance: list[str] = []
    if request.first_frame is not None:
        number += 1
        sources.append(f"<FIRST_FRAME>@Image{number}")
        guidance.append(f"Use Image{number} as the starting frame.")
    if request.last_frame is not None:
        number += 1
        sources.append(f"<LAST_FRAME>@Image{number}")
        guidance.append(f"Use Image{number} as the last frame.")
    if extends:
        sources.append("<PREVIOUS_VIDEO>@Video1")
        guidance.insert(0, "Extend this video.")
    references = []
    for index in range(len(request.reference_images)):
        number += 1
        references.append(f"<IMAGE_REF_{index}>@Image{number}")
    if references:
        guidance.append(
            "Use the given image(s) as references for video generation. "
            "The images should not be used as literal initial frames."
        )
    head = []
    if sources:
        head.append(f"[# Sources {' '.join(sources)}]")
    if references:
        head.append(f"[# References {' '.join(references)}]")
    return " ".join([*head, request.prompt, *guidance])


def request_body(
    job_id: str,
    request: GenerationRequest,
    *,
    previous: str | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """The create body of docs/providers.md §2.3 for a validated request."""
    if request.last_frame is not None and request.first_frame is None:
        raise ProviderBadRequest(_(LAST_FRAME_ALONE_MESSAGE), detail="last frame without first")
    images = [
        image
        for image in (request.first_frame, request.last_frame, *request.reference_images)
        if image is not None
    ]
    text = prompt_text(request, extends=previous is not None)
    body: dict[str, Any] = {
        "model": request.model,
        "input": [*map(_image, images), {"type": "text", "text": text}] if images else text,
        "response_format": {
            "type": "video",
            "aspect_ratio": request.aspect_ratio,
            "resolution": request.resolution,
            # A Duration string; a bare number is refused (§2.3, U).
            "duration": f"{request.duration_s}s",
            # Keeps large videos out of the create answer; GET still answers inline (§2.4).
            "delivery": "uri",
        },
        "background": True,
        "store": True,  # the Extend button chains to it later
    }
    if request.seed is not None:
        body["generation_config"] = {"seed": request.seed}
    if previous is not None:
        body["previous_interaction_id"] = previous
    if callback_url is not None:
        body["webhook_config"] = {"uris": [callback_url], "user_metadata": {"job_id": job_id}}
    return body


# --- the answer ---------------------------------------------------------------------------


def find_video(tree: Any) -> _Video | None:
    """The last video of the model's output after the last user turn (the SDK's
    `output_video`, which the REST answer does not carry; one sent anyway is taken)."""
    if not isinstance(tree, dict):
        return None
    steps = tree.get("steps")
    for step in reversed(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        if step.get("type") == "user_input":
            break
        if step.get("type") != "model_output" or not isinstance(step.get("content"), list):
            continue
        for item in reversed(step["content"]):
            video = _video(item)
            if video is not None:
                return video
    return _video(tree.get("output_video"))


def _video(item: Any) -> _Video | None:
    if not isinstance(item, dict) or item.get("type", "video") != "video":
        return None
    data, uri = item.get("data"), item.get("uri")
    if isinstance(data, str) and data:
        return _Video(data=data)
    if isinstance(uri, str) and uri:
        return _Video(uri=uri)
    return None


def _last_turn_errors(tree: dict[str, Any]) -> list[str]:
    """Codes and words of what went wrong, for the log and the safety check."""
    found = []
    for error in tree.get("errors") or []:
        if isinstance(error, dict):
            found.append(f"{error.get('code')}: {error.get('message')}")
    for step in reversed(tree.get("steps") or []):
        if not isinstance(step, dict) or step.get("type") == "user_input":
            break
        error = step.get("error")
        if step.get("type") == "model_output" and isinstance(error, dict):
            found.append(f"{error.get('code')}: {error.get('message')}")
    return found


def read_interaction(interaction_id: str, tree: Any, url: str) -> ProviderStatus:
    """One reading of an interaction in the provider-neutral shape."""
    if not isinstance(tree, dict):
        raise ProviderUnavailable(detail="the interaction answer is not a JSON object")
    state = tree.get("status")
    if state == "queued":
        return ProviderStatus(ProviderJobState.QUEUED)
    if state not in _FINISHED:
        return ProviderStatus(ProviderJobState.RUNNING)
    errors = _last_turn_errors(tree)
    if state == "completed":
        if find_video(tree) is not None:
            return ProviderStatus(ProviderJobState.SUCCEEDED, progress=100, video_url=url)
        # The model's words can quote the prompt: the log gets the error codes, never text.
        log.info("gemini interaction %s completed without a video: %s", interaction_id, errors)
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="content_rejected", error_message=_(REFUSED_MESSAGE)
        )
    log.info("gemini interaction %s ended %s: %s", interaction_id, state, errors)
    if state == "failed":
        if any(word in e.lower() for e in errors for word in _SAFETY_WORDS):
            return ProviderStatus(
                ProviderJobState.FAILED,
                error_code="content_rejected",
                error_message=_(SAFETY_MESSAGE),
            )
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=_(FAILED_MESSAGE)
        )
    code, message = _TERMINAL_FAILURES[state]
    return ProviderStatus(ProviderJobState.FAILED, error_code=code, error_message=message)


# --- errors -------------------------------------------------------------------------------


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
    """Both of Google's envelopes: `{"error": {code (int), message, status, details}}` from
    the front end and `{"error": {code (string), message}}` from the Interactions API (§2.5).
    None leaves the shared default (5xx, 408 and 409 are retried as unavailable)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "")
    code = error.get("code")
    google_status = str(error.get("status") or (code if isinstance(code, str) else ""))
    details = _details(error)
    detail = f"HTTP {status} {google_status}: {message}"
    reasons = {str(d.get("reason")) for d in details}
    path = response.request.url.path
    creating = response.request.method == "POST" and path.endswith("/interactions")
    reading = response.request.method == "GET" and "/interactions/" in path
    if status == 400:
        if "API_KEY_INVALID" in reasons or "api key" in message.lower():
            return ProviderAuthError(detail=detail)
        if reading:  # an unknown id: "Invalid interaction name"
            return ProviderJobNotFound(detail=detail)
        if google_status.upper() == "FAILED_PRECONDITION" and creating:
            return ProviderBadRequest(_(ACCOUNT_REFUSED_MESSAGE), detail=detail)
        return ProviderBadRequest(detail=detail)
    if status in (401, 403):
        return ProviderAuthError(detail=detail)
    if status == 404:
        if creating and "no longer available" in message.lower():
            return ProviderModelRetired(detail=detail)
        if creating and "interaction" not in message.lower():
            return ProviderBadRequest(_(MODEL_UNAVAILABLE_MESSAGE), detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        # A per-day quota does not refill within the job's retry window: say it is spent.
        if _is_daily_quota(message, details):
            return ProviderOutOfCredits(_(DAILY_QUOTA_MESSAGE), detail=detail)
        header = retry_after_s(response)
        return ProviderRateLimited(
            retry_after=header if header is not None else _retry_delay_s(details), detail=detail
        )
    return None


# --- the models ---------------------------------------------------------------------------

_VEO_GONE = "Google"

# What the Gemini API serves on 2026-12-01 (docs/providers.md §2.1, §8): Gemini Omni, and the
# Veo ids it used to offer, kept only to refuse them with their date and replacement.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="gemini",
        id=OMNI,
        label="Gemini Omni Flash",
        description=(
            "Google's Gemini Omni: text, first frame, first and last frame, reference images, "
            "and extension. Always makes sound, steered by the prompt; no negative prompt "
            "(write 'No …' in the prompt)."
        ),
        durations=tuple(range(3, 11)),  # 3 to 10 s per generation (§2.7)
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("360p", "720p", "1080p", "4k"),
        default_resolution="720p",
        inputs=frozenset(
            {
                InputKind.TEXT,
                InputKind.FIRST_FRAME,
                InputKind.LAST_FRAME,
                InputKind.REFERENCES,
                InputKind.VIDEO,
            }
        ),
        max_references=3,  # the docs show up to 6; 3 keeps to what every surface can attach
        max_prompt_chars=4000,  # no documented limit: the bot's own cap
        negative_prompt=False,  # "negative prompts are not supported" (OMNIDOC limitations)
        seed=True,
        can_extend=True,
        # WaveSpeed's 1.1 launch post, 2026-08-28 (docs/providers.md §7): 720p $0.10/s;
        # 360p $0.03, 1080p $0.15, 4k $0.30. Sound is always on and not priced apart.
        price_usd_per_s=0.10,
        resolution_prices=(("360p", 0.03, None), ("1080p", 0.15, None), ("4k", 0.30, None)),
        price_source="WaveSpeed's Gemini Omni 1.1 launch post, 2026-08-28 (read 2026-12-01)",
        default=True,
    ),
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
        retired_on="2026-10-22",
        retired_by=_VEO_GONE,
        replacement=OMNI,
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
        retired_on="2026-10-22",
        retired_by=_VEO_GONE,
        replacement=OMNI,
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
        retired_on="2026-06-30",
        retired_by=_VEO_GONE,
        replacement=OMNI,
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
        retired_on="2026-06-30",
        retired_by=_VEO_GONE,
        replacement=OMNI,
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
        retired_on="2026-06-30",
        retired_by=_VEO_GONE,
        replacement=OMNI,
    ),
)
