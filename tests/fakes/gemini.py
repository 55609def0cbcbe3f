"""A fake of Google's Gemini API for Veo (PROVIDERS.md §4): `predictLongRunning`, operation
polling and file downloads, checked the way the real API checks them.

Magic prompts: "[fail]" fails the operation (google.rpc code 3), "[rai]" has it safety-filtered,
"[slow]" runs 100x longer, "[429]" has the first submit of that prompt answer 429
RESOURCE_EXHAUSTED with Retry-After: 1 (a burst, so a retry gets through).

Options: `inline_video` returns `encodedVideo` instead of a file URI; `redirect` has the file
download answer 302 to a second server (Google's storage) that records whether it saw the key;
`file_ttl_s` / `operation_ttl_s` expire files and operations (404), like the 2-day retention;
`refused_person_generation` refuses those personGeneration values, as some regions do;
`daily_quota_exhausted` answers every submit with a per-day 429; `retired_models` are gone
(404 NOT_FOUND), as Google retires preview models.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeProvider, Recorded, json_response

API_KEY = "gemini-test-key"
STANDALONE_HINT = f"GEMINI_API_KEY={API_KEY} GEMINI_BASE_URL=<the address above>"

VEO2 = ("veo-2.0-generate-001",)
VEO30 = ("veo-3.0-generate-001", "veo-3.0-fast-generate-001")
VEO31 = (
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-generate-001",
    "veo-3.1-fast-generate-001",
)
MODELS = (*VEO2, *VEO30, *VEO31)

# What the SDK refuses outside Vertex ("only supported in Gemini Enterprise Agent Platform").
VERTEX_ONLY = frozenset(
    {
        "seed",
        "generateAudio",
        "fps",
        "outputGcsUri",
        "storageUri",
        "pubsubTopic",
        "compressionQuality",
        "labels",
        "resizeMode",
    }
)
PARAMETERS = frozenset(
    {
        "aspectRatio",
        "durationSeconds",
        "resolution",
        "negativePrompt",
        "personGeneration",
        "sampleCount",
        "enhancePrompt",
    }
)
INSTANCE_KEYS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
IMAGE_MIMES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
RAI_REASON = "Filtered by policy RAI-7731: the prompt names a protected person."


class GoogleError(Exception):
    """An answer in Google's error envelope."""

    def __init__(
        self, http: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.http = http
        self.status = status
        self.message = message
        self.details = details or []

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        error: dict[str, Any] = {"code": self.http, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return web.Response(
            status=self.http,
            text=json.dumps({"error": error}),
            content_type="application/json",
            headers=headers,
        )


def invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


@dataclass
class Operation:
    name: str
    model: str
    prompt: str
    started_at: float
    duration_s: float
    file_id: str
    request: dict[str, Any]

    @property
    def done_at(self) -> float:
        return self.started_at + self.duration_s


@dataclass
class Storage:
    """Google's storage host: a second origin that serves signed video URLs."""

    video: bytes
    requests: list[Recorded] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def saw_key(self) -> bool:
        return any(
            "x-goog-api-key" in {k.lower() for k in r.headers} or "key" in r.query
            for r in self.requests
        )

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), b"")
        )
        file_id = request.match_info["file"].removesuffix(".mp4")
        if self.signatures.get(file_id) != request.query.get("X-Goog-Signature"):
            return web.Response(status=403, text="SignatureDoesNotMatch")
        return web.Response(body=self.video, content_type="video/mp4")

    def signed_url(self, file_id: str) -> str:
        signature = self.signatures.setdefault(file_id, secrets.token_hex(8))
        return (
            f"{self.base_url}/generativelanguage-files/{file_id}.mp4?X-Goog-Signature={signature}"
        )

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/generativelanguage-files/{file}", self.serve)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class GeminiFake(FakeProvider):
    family = "gemini"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        job_duration_s: float = 0.3,
        video: bytes | None = None,
        api_key: str = API_KEY,
        inline_video: bool = False,
        redirect: bool = False,
        file_ttl_s: float = 2 * 24 * 3600,
        operation_ttl_s: float | None = None,
        refused_person_generation: Collection[str] = (),
        daily_quota_exhausted: bool = False,
        retired_models: Collection[str] = (),
    ) -> None:
        super().__init__(clock=clock, job_duration_s=job_duration_s, video=video)
        self.api_key = api_key
        self.inline_video = inline_video
        self.redirect = redirect
        self.file_ttl_s = file_ttl_s
        self.operation_ttl_s = operation_ttl_s
        self.refused_person_generation = frozenset(refused_person_generation)
        self.daily_quota_exhausted = daily_quota_exhausted
        self.retired_models = frozenset(retired_models)
        self.operations: dict[str, Operation] = {}
        self.storage = Storage(self.video)
        self._rate_limited_prompts: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1beta/models/{target}", self._submit),
            web.get("/v1beta/models/{model}/operations/{operation}", self._operation),
            web.get("/v1beta/files/{target}", self._file),
        ]

    async def start(self, port: int = 0) -> str:
        base = await super().start(port)
        if self.redirect:
            await self.storage.start()
        return base

    async def close(self) -> None:
        await self.storage.close()
        await super().close()

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )

    # --- submit -------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            model, _, method = request.match_info["target"].partition(":")
            if method != "predictLongRunning":
                raise GoogleError(404, "NOT_FOUND", f"Method {method!r} not found.")
            if model not in MODELS or model in self.retired_models:
                raise GoogleError(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version v1beta, or is not supported "
                    "for predictLongRunning.",
                )
            try:
                body = json.loads(await request.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise invalid("Invalid JSON payload received.") from None
            prompt = self._validate(model, body)
            if self.daily_quota_exhausted:
                raise self._quota_error(per_day=True)
            if "[429]" in prompt and prompt not in self._rate_limited_prompts:
                self._rate_limited_prompts.add(prompt)
                return self._quota_error(per_day=False).response({"Retry-After": "1"})
        except GoogleError as err:
            return err.response()
        operation_id = secrets.token_hex(6)
        name = f"models/{model}/operations/{operation_id}"
        self.operations[name] = Operation(
            name=name,
            model=model,
            prompt=prompt,
            started_at=self.clock(),
            duration_s=self.job_duration_s * (100 if "[slow]" in prompt else 1),
            file_id=secrets.token_hex(6),
            request=body,
        )
        return json_response({"name": name})

    @staticmethod
    def _quota_error(*, per_day: bool) -> GoogleError:
        period = "Day" if per_day else "Minute"
        return GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            f"predict_long_running_requests_per_model_per_{period.lower()}",
                            "quotaId": f"PredictLongRunningRequestsPer{period}PerProjectPerModel",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
            ],
        )

    def _validate(self, model: str, body: Any) -> str:
        """Refuse what the Developer API refuses; return the prompt."""
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        for key in body:
            if key not in ("instances", "parameters", "webhookConfig"):
                raise invalid(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
                )
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise invalid("instances must hold exactly one instance.")
        instance = instances[0]
        if not isinstance(instance, dict):
            raise invalid("instances[0] must be an object.")
        for key in instance:
            if key not in INSTANCE_KEYS:
                raise invalid(
                    f'Invalid JSON payload received. Unknown name "{key}" at "instances[0]".'
                )
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise invalid("parameters must be an object.")
        for key in parameters:
            if key in VERTEX_ONLY:
                raise invalid(
                    f"`{key}` isn't supported by the Gemini API; it is only supported in Vertex AI."
                )
            if key not in PARAMETERS:
                raise invalid(
                    f'Invalid JSON payload received. Unknown name "{key}" at "parameters".'
                )

        veo31, veo2 = model in VEO31, model in VEO2
        image = instance.get("image")
        last_frame = instance.get("lastFrame")
        references = instance.get("referenceImages")
        video = instance.get("video")
        prompt = instance.get("prompt")
        if image is not None:
            self._check_image(image, "image")
        if not (isinstance(prompt, str) and prompt.strip()) and image is None:
            raise invalid("instances[0].prompt is required.")
        if last_frame is not None:
            if not veo31:
                raise invalid(f"lastFrame isn't supported by {model}.")
            if image is None:
                raise invalid("lastFrame needs an image (the first frame).")
            self._check_image(last_frame, "lastFrame")
        if references is not None:
            if not veo31:
                raise invalid(f"referenceImages isn't supported by {model}.")
            if image is not None or last_frame is not None or video is not None:
                raise invalid("referenceImages cannot be combined with image, lastFrame or video.")
            if not isinstance(references, list) or not 1 <= len(references) <= 3:
                raise invalid("referenceImages takes 1 to 3 images.")
            for index, reference in enumerate(references):
                where = f"referenceImages[{index}]"
                if not isinstance(reference, dict) or set(reference) != {"image", "referenceType"}:
                    raise invalid(f"{where} needs image and referenceType.")
                if reference["referenceType"] != "asset":
                    raise invalid(f"{where}.referenceType must be asset for {model}.")
                self._check_image(reference["image"], f"{where}.image")
        if video is not None:
            if not veo31:
                raise invalid(f"Video extension isn't supported by {model}.")
            self._check_video(video)

        aspect = parameters.get("aspectRatio", "16:9")
        if aspect not in ("16:9", "9:16"):
            raise invalid(f"aspectRatio {aspect!r} is not supported; use 16:9 or 9:16.")
        resolution = parameters.get("resolution")
        if veo2 and resolution is not None:
            raise invalid(f"resolution isn't supported by {model}.")
        offered = ("720p", "1080p", "4k") if veo31 else ("720p", "1080p")
        if resolution is not None and resolution not in offered:
            raise invalid(f"resolution {resolution!r} isn't supported by {model}.")
        duration = parameters.get("durationSeconds", 8)
        if isinstance(duration, str) and duration.isdigit():
            duration = int(duration)
        if isinstance(duration, float) and duration.is_integer():
            duration = int(duration)
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise invalid("durationSeconds must be a number.")
        if veo2:
            allowed: tuple[int, ...] = (5, 6, 7, 8)
        elif resolution in ("1080p", "4k") or references is not None:
            allowed = (8,)
        else:
            allowed = (4, 6, 8)
        if duration not in allowed:
            raise invalid(
                f"durationSeconds {duration} is out of range for this request: {allowed}."
            )
        count = parameters.get("sampleCount", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
            raise invalid("sampleCount must be from 1 to 4.")
        negative = parameters.get("negativePrompt")
        if negative is not None and not isinstance(negative, str):
            raise invalid("negativePrompt must be a string.")
        self._check_person_generation(
            parameters.get("personGeneration"),
            with_image=any(x is not None for x in (image, last_frame, references)),
            veo2=veo2,
        )
        self._check_webhook(body.get("webhookConfig"))
        return prompt if isinstance(prompt, str) else ""

    def _check_person_generation(self, value: Any, *, with_image: bool, veo2: bool) -> None:
        if value is None:
            return
        if value not in ("allow_all", "allow_adult", "dont_allow"):
            raise invalid(f"personGeneration {value!r} is not a valid value.")
        if value in self.refused_person_generation:
            raise invalid(f"{value} for personGeneration is currently not supported.")
        allowed: tuple[str, ...]
        if with_image:
            allowed = ("allow_adult", "dont_allow") if veo2 else ("allow_adult",)
        else:
            allowed = ("allow_all", "allow_adult", "dont_allow") if veo2 else ("allow_all",)
        if value not in allowed:
            raise invalid(f"{value} for personGeneration is not supported for this use case.")

    @staticmethod
    def _check_image(part: Any, where: str) -> None:
        if not isinstance(part, dict):
            raise invalid(f"{where} must be an object.")
        if "gcsUri" in part:
            raise invalid(
                f"{where}.gcsUri isn't supported by the Gemini API; send the bytes inline."
            )
        if set(part) != {"bytesBase64Encoded", "mimeType"}:
            raise invalid(f"{where} needs bytesBase64Encoded and mimeType.")
        try:
            data = base64.b64decode(part["bytesBase64Encoded"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise invalid(f"{where}.bytesBase64Encoded is not valid base64.") from None
        mime = part["mimeType"]
        is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        matches = (
            is_webp if mime == "image/webp" else data.startswith(IMAGE_MIMES.get(mime, b"\x00"))
        )
        if mime not in (*IMAGE_MIMES, "image/webp") or not matches:
            raise invalid(f"{where} is not a {mime} image.")

    def _check_video(self, video: Any) -> None:
        if not isinstance(video, dict):
            raise invalid("video must be an object.")
        if "uri" in video:
            file_id = str(video["uri"]).rpartition("/files/")[2].partition(":")[0]
            if not file_id or self._live_file(file_id) is None:
                raise invalid("video.uri must name a video Veo generated that has not expired.")
            return
        encoded, encoding = video.get("encodedVideo"), video.get("encoding")
        try:
            data = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise invalid("video.encodedVideo is not valid base64.") from None
        if encoding != "video/mp4" or data[4:8] != b"ftyp":
            raise invalid("video needs a uri, or encodedVideo with encoding video/mp4.")

    @staticmethod
    def _check_webhook(config: Any) -> None:
        if config is None:
            return
        if not isinstance(config, dict) or not set(config) <= {
            "uris",
            "userMetadata",
            "user_metadata",
        }:
            raise invalid("webhookConfig takes uris and userMetadata.")
        uris = config.get("uris", [])
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise invalid("webhookConfig.uris must be a list of URLs.")
        metadata = config.get("userMetadata", config.get("user_metadata", {}))
        if not isinstance(metadata, dict):
            raise invalid("webhookConfig.userMetadata must be an object.")

    # --- operations and files -----------------------------------------------------------

    def _live_operation(self, name: str) -> Operation | None:
        operation = self.operations.get(name)
        if operation is None:
            return None
        if self.operation_ttl_s is not None and self.clock() >= (
            operation.started_at + self.operation_ttl_s
        ):
            return None
        return operation

    def _live_file(self, file_id: str) -> Operation | None:
        """The finished, unexpired operation whose video this file is."""
        now = self.clock()
        for operation in self.operations.values():
            if (
                operation.file_id == file_id
                and "[fail]" not in operation.prompt
                and "[rai]" not in operation.prompt
                and operation.done_at <= now < operation.done_at + self.file_ttl_s
            ):
                return operation
        return None

    def file_uri(self, operation: Operation) -> str:
        return f"{self.base_url}/v1beta/files/{operation.file_id}:download?alt=media"

    async def _operation(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
        except GoogleError as err:
            return err.response()
        name = f"models/{request.match_info['model']}/operations/{request.match_info['operation']}"
        operation = self._live_operation(name)
        if operation is None:
            return GoogleError(404, "NOT_FOUND", f"Operation {name} not found.").response()
        elapsed = self.clock() - operation.started_at
        if elapsed < operation.duration_s / 2:
            return json_response({"name": name})
        if elapsed < operation.duration_s:
            return json_response({"name": name, "done": False})
        answer: dict[str, Any] = {"name": name, "done": True}
        if "[fail]" in operation.prompt:
            answer["error"] = {
                "code": 3,
                "message": "Video generation failed: the request could not be processed "
                "(INVALID_ARGUMENT).",
            }
            return json_response(answer)
        result: dict[str, Any]
        if "[rai]" in operation.prompt:
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
        elif self.inline_video:
            encoded = base64.b64encode(self.video).decode("ascii")
            result = {
                "generatedSamples": [{"video": {"encodedVideo": encoded, "encoding": "video/mp4"}}]
            }
        else:
            result = {"generatedSamples": [{"video": {"uri": self.file_uri(operation)}}]}
        answer["response"] = {
            "@type": RESPONSE_TYPE,
            "generateVideoResponse": result,
        }
        return json_response(answer)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            file_id, _, method = request.match_info["target"].partition(":")
            if method != "download" or request.query.get("alt") != "media":
                raise invalid("Use files/{id}:download?alt=media to fetch a file's bytes.")
            if self._live_file(file_id) is None:
                raise GoogleError(404, "NOT_FOUND", f"File files/{file_id} not found or expired.")
        except GoogleError as err:
            return err.response()
        if self.redirect:
            raise web.HTTPFound(self.storage.signed_url(file_id))
        return web.Response(body=self.video, content_type="video/mp4")


def create(**options: Any) -> GeminiFake:
    return GeminiFake(**options)
