"""Vertex AI, Veo 3.1 (docs/providers.md §1): `predictLongRunning` starts an operation,
`fetchPredictOperation` follows it, with an OAuth access token from a service-account key.

A finished operation holds the video inline (base64) or, with `VERTEX_OUTPUT_GCS_URI`, as a
`gs://` object fetched through the Cloud Storage JSON API with the same token. Inline, the
poll that sees `done` reads the answer only up to the first character of the video and hangs
up; the download asks again and decodes the base64 as it streams to disk. So the tens of MB
cross the wire once (plus the head of one poll) and are never held whole in memory; the
alternative, keeping them from the poll until the download, would hold them for as long as
the core takes to get there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from google.oauth2 import service_account
from PIL import Image

from adapters.providers._http import ApiClient, retry_after_s
from adapters.providers.vertex._auth import AccessTokens, load_key_file
from adapters.providers.vertex._operation import Head, Reader, inline_video, read_head
from bot.budget import ProviderLimits, per_minute
from bot.channels import PERSON_GENERATION as CHANNEL_PERSON_SETTINGS
from bot.errors import (
    ContentRejected,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderModelRetired,
    ProviderRateLimited,
)
from bot.i18n import N_, _
from bot.models import (
    GenerationRequest,
    ImageInput,
    ProviderHealth,
    ProviderJobState,
    ProviderStatus,
)
from bot.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

API_VERSION = "v1"
DEFAULT_GCS_BASE_URL = "https://storage.googleapis.com"
# Where an inline result is: the operation to ask again (stored as the job's result URL).
INLINE_SCHEME = "vertex-operation:"
# One of the videos of an operation that makes several (`sampleCount`): `<name>#sample=1`.
SAMPLE_MARK = "#sample="
MAX_SAMPLES = 4
PERSON_GENERATION = CHANNEL_PERSON_SETTINGS  # one list, the one channel rules check
DEFAULT_PERSON_GENERATION = "allow_adult"
_MULTI_REGIONAL = frozenset({"us", "eu"})
_OPERATION_NAME = re.compile(
    r"projects/[^/]+/locations/[^/]+/publishers/google/models/[^/:]+/operations/[^/:]+"
)
_GCS_URI = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(.+)")

SAFETY_MESSAGE = N_(
    "Google's safety filter removed this video. Try describing it differently, or use "
    "another image."
)
NO_OUTPUT_MESSAGE = N_("Veo finished without returning a video. Please try again.")
PERMISSION_MESSAGE = N_(
    "Google refused the bot's service account for Vertex AI: it needs the Vertex AI User role "
    "on the project, with the Vertex AI API turned on. An admin needs to check it."
)
ACCESS_REFUSED_MESSAGE = N_(
    "Google did not accept the bot's access token for Vertex AI; an admin needs to check the "
    "service account."
)
BUCKET_MESSAGE = N_(
    "The video was made, but the bot's service account may not read it from the Cloud Storage "
    "bucket; an admin needs to grant it read access there."
)
LAST_FRAME_ALONE_MESSAGE = N_(
    "Veo needs a first frame to go with a last frame: attach both, or only a first frame."
)
REFERENCES_WIDE_MESSAGE = N_("Veo makes videos from reference images in 16:9 only.")
REFERENCES_NEGATIVE_MESSAGE = N_("Veo takes no negative prompt with reference images.")
NOT_EXTENDABLE_MESSAGE = N_(
    "This video cannot be extended: the bot keeps Vertex results in Cloud Storage only when "
    "an admin sets that up."
)
PERSON_SETTING_MESSAGE = N_("This workspace's setting for people in videos is not one Veo knows.")

_CANNOT_MAKE = N_("Veo could not make a video from this request. Try a different prompt or image.")
_OVER_LIMIT = N_("Veo is over its usage limit right now. Please try again later.")
_OPERATION_FAILED = N_("Veo ran into a problem while making this video. Please try again.")
# google.rpc.Code of a failed operation -> what people are told.
_OPERATION_FAILURES: dict[int, str] = {
    3: _CANNOT_MAKE,  # INVALID_ARGUMENT
    9: _CANNOT_MAKE,  # FAILED_PRECONDITION
    11: _CANNOT_MAKE,  # OUT_OF_RANGE
    8: _OVER_LIMIT,  # RESOURCE_EXHAUSTED
    7: PERMISSION_MESSAGE,  # PERMISSION_DENIED
}


class _Unauthenticated(ProviderAuthError):
    """401: the token was refused (revoked, or expired early); worth one fresh token."""


def base_url_for(location: str) -> str:
    """Vertex AI's host for a location (google-genai `_api_client.py`, docs/providers.md §1.2)."""
    if location == "global":
        return "https://aiplatform.googleapis.com/"
    if location in _MULTI_REGIONAL:
        return f"https://aiplatform.{location}.rep.googleapis.com/"
    return f"https://{location}-aiplatform.googleapis.com/"


class VertexProvider:
    """Vertex AI's Veo 3.1 as a `VideoProvider`, with service-account tokens."""

    name = "vertex"
    idempotent_submit = False  # every predictLongRunning starts (and bills) a new operation
    poll_interval_s: float | None = None
    # Vertex AI: Veo requests per minute per project and base model are in the tens by
    # default (cloud.google.com/vertex-ai/generative-ai/docs/quotas); fetchPredictOperation
    # is counted apart, more generously. VEO_BUDGET_VERTEX_* replace it.
    limits = ProviderLimits(submit=per_minute(10), status=per_minute(60))

    def __init__(
        self,
        project: str,
        credentials: service_account.Credentials,
        *,
        location: str = "us-central1",
        base_url: str | None = None,
        output_gcs_uri: str | None = None,
        gcs_base_url: str = DEFAULT_GCS_BASE_URL,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.project = project
        self.location = location
        self.output_gcs_uri = output_gcs_uri
        self._tokens = AccessTokens(credentials, clock=clock)
        # The token goes per request (it changes), never as a default header.
        self._api = ApiClient(
            base_url or base_url_for(location), {}, map_error=map_error, transport=transport
        )
        self._gcs = ApiClient(gcs_base_url, {}, map_error=map_gcs_error, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> VertexProvider:
        """The provider as the environment describes it; `ConfigurationError` when the key
        file cannot be used."""
        assert settings.vertex_project is not None
        return cls(
            settings.vertex_project,
            load_key_file(settings.google_application_credentials),
            location=settings.vertex_location,
            base_url=settings.vertex_base_url,
            output_gcs_uri=settings.vertex_output_gcs_uri,
            gcs_base_url=settings.gcs_base_url,
        )

    # --- the port -----------------------------------------------------------------------

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Start a `predictLongRunning` operation; return its name."""
        del job_id, callback_url  # Veo on Vertex calls nobody back (Pub/Sub only): the core polls
        if request.model is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        body = await asyncio.to_thread(request_body, request, output_gcs_uri=self.output_gcs_uri)
        path = f"{API_VERSION}/{self._model_resource(request.model)}:predictLongRunning"
        answer = await self._authorized(
            lambda auth: self._api.json("POST", path, json_body=body, headers=auth)
        )
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not _OPERATION_NAME.fullmatch(name):
            # Not retryable: the operation may have started, and a second submit bills again.
            raise ProviderError(detail="predictLongRunning answered without an operation name")
        return name

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the operation, stopping before an inline video's bytes (those of the sample
        the id names, for an operation that makes several)."""
        name, sample = split_sample(provider_job_id)
        async with self._operation(name) as reader:
            head = await read_head(reader, sample)  # stops before an inline video's bytes
        return read_status(provider_job_id, head)

    def sample_job_id(self, provider_job_id: str, sample: int) -> str:
        """The id under which one of the videos of an operation asked for several
        (`sampleCount`) is read and fetched: the operation's name, marked with the sample."""
        return f"{provider_job_id}{SAMPLE_MARK}{sample}" if sample else provider_job_id

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the video: decoded from the operation, or from Cloud Storage with the token."""
        url = status.video_url or ""
        if url.startswith(INLINE_SCHEME):
            return self._inline(url.removeprefix(INLINE_SCHEME))
        return self._from_storage(url)

    async def cancel(self, provider_job_id: str) -> bool:
        """False at once: Veo operations on Vertex cannot be cancelled."""
        del provider_job_id  # Veo operations on Vertex cannot be cancelled: it runs to its end
        return False

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing to check: Vertex is never asked to call back."""
        del headers, body, now  # no callbacks are ever asked for

    async def health(self) -> ProviderHealth:
        """For `veo-bot doctor`: an access token from the key proves the key; Vertex itself
        lists no models cheaply, so which ones are live is not said."""
        where = f"project {self.project}, location {self.location}"
        try:
            await self._tokens.token()
        except ProviderAuthError as err:
            return ProviderHealth(
                reachable=True, key_accepted=False, detail=f"{err.user_message} ({err.detail})"
            )
        except ProviderError as err:
            return ProviderHealth(
                reachable=False,
                key_accepted=None,
                detail=f"Google's token endpoint did not answer ({err.detail}).",
            )
        return ProviderHealth(
            reachable=True,
            key_accepted=True,
            detail=f"access token issued to {self._tokens.account}; {where}",
        )

    async def aclose(self) -> None:
        """Close the HTTP clients and the token client."""
        await self._api.aclose()
        await self._gcs.aclose()
        await self._tokens.aclose()

    # --- calls --------------------------------------------------------------------------

    def _model_resource(self, model: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"

    async def _authorized(self, call: Callable[[dict[str, str]], Awaitable[T]]) -> T:
        """Make a call with the current token; when Google refuses that token (revoked, or
        expired early), once more with a fresh one. A 401 starts nothing, so even a submit
        may be repeated."""
        token = await self._tokens.token()
        try:
            return await call({"Authorization": f"Bearer {token}"})
        except _Unauthenticated:
            self._tokens.invalidate(token)
        token = await self._tokens.token()
        return await call({"Authorization": f"Bearer {token}"})

    async def _open(
        self, api: ApiClient, method: str, path: str, **kwargs: Any
    ) -> tuple[bytes, AsyncGenerator[bytes, None]]:
        """A streamed answer, its first chunk already read (so that errors, 401 included,
        are raised here), and the rest."""

        async def attempt(auth: dict[str, str]) -> tuple[bytes, AsyncGenerator[bytes, None]]:
            chunks = api.stream_body(method, path, headers=auth, **kwargs)
            try:
                first = await anext(chunks, b"")
            except BaseException:
                await chunks.aclose()
                raise
            return first, chunks

        return await self._authorized(attempt)

    @contextlib.asynccontextmanager
    async def _operation(self, name: str) -> AsyncIterator[Reader]:
        """The operation's answer as a reader; leaving the block hangs up on the rest."""
        if not _OPERATION_NAME.fullmatch(name):
            raise ProviderJobNotFound(detail="not a Vertex operation name")
        resource = name.partition("/operations/")[0]
        first, chunks = await self._open(
            self._api,
            "POST",
            f"{API_VERSION}/{resource}:fetchPredictOperation",
            json_body={"operationName": name},
        )
        try:
            yield Reader(chunks, first)
        finally:
            await chunks.aclose()

    async def _inline(self, job_id: str) -> AsyncIterator[bytes]:
        name, sample = split_sample(job_id)
        async with self._operation(name) as reader:
            head = await read_head(reader, sample)
            if not head.inline:
                raise ProviderJobNotFound(detail="the operation no longer holds its video")
            async for data in inline_video(reader):
                yield data

    async def _from_storage(self, uri: str) -> AsyncIterator[bytes]:
        match = _GCS_URI.fullmatch(uri)
        if match is None:
            raise ProviderJobNotFound(detail="the finished job named no video")
        bucket, name = match.groups()
        # The object name is one path segment: its slashes are encoded (%2F).
        path = f"storage/v1/b/{bucket}/o/{quote(name, safe='')}"
        first, chunks = await self._open(self._gcs, "GET", path, params={"alt": "media"})
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()


# --- the request ----------------------------------------------------------------------------


def _image(image: ImageInput) -> dict[str, str]:
    """Inline image: Vertex takes PNG and JPEG, so WebP is converted to PNG (blocking)."""
    data, mime = image.data, image.mime
    if mime not in ("image/png", "image/jpeg"):
        with Image.open(io.BytesIO(data)) as img:
            out = io.BytesIO()
            img.save(out, format="PNG")
        data, mime = out.getvalue(), "image/png"
    return {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime}


def person_generation(request: GenerationRequest) -> str:
    """Whether Veo may draw people: the workspace's setting, carried as the request extra
    `person_generation` (`allow_adult` when the workspace set nothing)."""
    value = request.extras.get("person_generation", DEFAULT_PERSON_GENERATION)
    if value not in PERSON_GENERATION:
        raise ProviderBadRequest(_(PERSON_SETTING_MESSAGE), detail=f"person_generation={value!r}")
    return str(value)


def split_sample(job_id: str) -> tuple[str, int]:
    """An operation's name and which of its videos a job id names (`sample_job_id`)."""
    name, mark, sample = job_id.partition(SAMPLE_MARK)
    if not mark:
        return name, 0
    if not sample.isdigit() or not 0 < int(sample) < MAX_SAMPLES:
        raise ProviderJobNotFound(detail="not a sample of a Vertex operation")
    return name, int(sample)


def request_body(request: GenerationRequest, *, output_gcs_uri: str | None) -> dict[str, Any]:
    """The predictLongRunning body of docs/providers.md §1.4 for a validated request; refuses
    (before anything is sent) what Vertex is known to refuse. Blocking (image conversion)."""
    if request.last_frame is not None and request.first_frame is None:
        raise ProviderBadRequest(_(LAST_FRAME_ALONE_MESSAGE), detail="lastFrame without image")
    if request.reference_images and request.aspect_ratio != "16:9":
        raise ProviderBadRequest(_(REFERENCES_WIDE_MESSAGE), detail="referenceImages at 9:16")
    if request.reference_images and request.negative_prompt:
        raise ProviderBadRequest(
            _(REFERENCES_NEGATIVE_MESSAGE), detail="referenceImages + negative"
        )
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.first_frame is not None:
        instance["image"] = _image(request.first_frame)
    if request.last_frame is not None:
        instance["lastFrame"] = _image(request.last_frame)
    if request.reference_images:
        instance["referenceImages"] = [
            {"image": _image(image), "referenceType": "asset"} for image in request.reference_images
        ]
    extending = request.source_video is not None
    if request.source_video is not None:
        if _GCS_URI.fullmatch(request.source_video) is None:
            raise ProviderBadRequest(_(NOT_EXTENDABLE_MESSAGE), detail="source video not in GCS")
        instance["video"] = {"gcsUri": request.source_video, "mimeType": "video/mp4"}
    # Several takes in one operation (`bot.variants`): the first take's job asks for them all.
    samples = max(1, request.count)
    parameters: dict[str, Any] = {"aspectRatio": request.aspect_ratio, "sampleCount": samples}
    if not extending:
        # An extension adds Google's own 7 s at 720p, with no sound of its own.
        parameters["durationSeconds"] = request.duration_s
        parameters["resolution"] = request.resolution
        parameters["generateAudio"] = bool(request.audio)
    if request.seed is not None:
        parameters["seed"] = request.seed
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    parameters["personGeneration"] = person_generation(request)
    if output_gcs_uri is not None:
        parameters["storageUri"] = output_gcs_uri
    return {"instances": [instance], "parameters": parameters}


# --- the answers ----------------------------------------------------------------------------


def read_status(name: str, head: Head) -> ProviderStatus:
    """One reading of an operation, from what precedes its video."""
    if head.inline:
        return ProviderStatus(
            ProviderJobState.SUCCEEDED, progress=100, video_url=f"{INLINE_SCHEME}{name}"
        )
    if head.gcs_uri is not None:
        return ProviderStatus(ProviderJobState.SUCCEEDED, progress=100, video_url=head.gcs_uri)
    if head.error is not None:
        code = head.error.get("code")
        log.info("vertex operation %s failed: code %s: %s", name, code, head.error.get("message"))
        message = _OPERATION_FAILED
        if isinstance(code, int):
            message = _OPERATION_FAILURES.get(code, _OPERATION_FAILED)
        return ProviderStatus(
            ProviderJobState.FAILED, error_code="provider_failed", error_message=_(message)
        )
    if not head.done:
        return ProviderStatus(ProviderJobState.RUNNING)
    if head.filtered > 0:
        # The reasons can quote the prompt back: they go to the log, never to the channel.
        log.info("vertex operation %s filtered: %s", name, head.filtered_reasons)
        return ProviderStatus(
            ProviderJobState.FAILED,
            error_code=ContentRejected.default_code,
            error_message=_(SAFETY_MESSAGE),
        )
    return ProviderStatus(
        ProviderJobState.FAILED, error_code="no_output", error_message=_(NO_OUTPUT_MESSAGE)
    )


def _retry_delay_s(error: dict[str, Any]) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` ("20s"), Google's own form of Retry-After."""
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            with contextlib.suppress(ValueError):
                return max(0.0, float(delay[:-1]))
    return None


def _google_error(status: int, body: Any) -> tuple[dict[str, Any], str]:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    return error, f"HTTP {status} {error.get('status') or ''}: {error.get('message') or ''}"


def map_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """`google.rpc.Status` answers to our errors; None leaves the shared default (5xx, 408 and
    409 are retried as unavailable)."""
    error, detail = _google_error(status, body)
    if status == 400:
        return ProviderBadRequest(detail=detail)
    if status == 401:
        return _Unauthenticated(_(ACCESS_REFUSED_MESSAGE), detail=detail)
    if status == 403:
        return ProviderAuthError(_(PERMISSION_MESSAGE), detail=detail)
    if status == 404:
        if response.request.url.path.endswith(":predictLongRunning"):
            return ProviderModelRetired(detail=detail)
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        header = retry_after_s(response)
        return ProviderRateLimited(
            retry_after=header if header is not None else _retry_delay_s(error), detail=detail
        )
    return None


def map_gcs_error(status: int, body: Any, response: httpx.Response) -> ProviderError | None:
    """Cloud Storage's answers for the result object."""
    _error, detail = _google_error(status, body)
    if status == 401:
        return _Unauthenticated(_(ACCESS_REFUSED_MESSAGE), detail=detail)
    if status == 403:
        return ProviderAuthError(_(BUCKET_MESSAGE), detail=detail)
    if status in (404, 410):
        return ProviderJobNotFound(detail=detail)
    return map_error(status, body, response) if status == 429 else None
