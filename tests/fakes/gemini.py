"""A fake of Google's Gemini API for Gemini Omni (docs/providers.md §2): the Interactions API
(`POST /v1beta/interactions`, `GET /v1beta/interactions/{id}`, `POST …/{id}/cancel`), the Files
API for `uri` results, and `GET /v1beta/models` for `veo-bot doctor`, checked the way §2.3
says Google checks them. Behaviours marked U in §2/§10 are tolerated both ways and switched by
options, never assumed by a test.

Magic prompts: "[fail]" ends `failed` with an error, "[blocked]" ends `failed` with a safety
error, "[refuse]" ends `completed` with text only, "[incomplete]", "[budget]" (budget_exceeded)
and "[action]" (requires_action) end in those states, "[slow]" runs 100x longer, "[429]" has
the first create of that prompt answer 429 RESOURCE_EXHAUSTED with Retry-After: 1.

Options: `get_returns_uri` answers GET with a Files API `uri` instead of inline `data` (the
create answer's form; GET answers inline by default, §2.4); `file_processing_reads` says how
many reads of a file's metadata answer PROCESSING first; `error_style` ("string" | "rpc")
picks the error envelope (§2.5, U); `retired_models` answer 404 "is no longer available";
`listed_models` is what `models.list` returns; `max_page_size` caps its pages;
`daily_quota_exhausted` answers every create with a per-day 429; `history` makes a chained
interaction's steps repeat the earlier turns (U: the SDK reads only after the last user turn).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeProvider, json_response, sample_mp4

API_KEY = "gemini-test-key"
STANDALONE_HINT = f"GEMINI_API_KEY={API_KEY} GEMINI_BASE_URL=<the address above>"
OMNI = "gemini-omni-1.1-flash"
# Shut down, answering 404 "… is no longer available" (docs/providers.md §2.1; wording S).
GONE = frozenset(
    {
        "veo-2.0-generate-001",
        "veo-3.0-generate-001",
        "veo-3.0-fast-generate-001",
        "veo-3.1-generate-preview",
        "veo-3.1-fast-generate-preview",
        "veo-3.1-lite-generate-preview",
        "gemini-omni-flash-preview",
    }
)
OTHER_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001")
CREATE_FIELDS = frozenset(
    {
        "model",
        "input",
        "background",
        "store",
        "stream",
        "response_format",
        "generation_config",
        "previous_interaction_id",
        "webhook_config",
        "labels",
        "response_modalities",
        "response_mime_type",
        "safety_settings",
        "service_tier",
        "system_instruction",
        "tools",
    }
)
# What Omni documents as unsupported (OMNIDOC limitations).
OMNI_REFUSES = frozenset({"system_instruction", "tools"})
OMNI_REFUSED_CONFIG = frozenset({"temperature", "top_p", "stop_sequences"})
GENERATION_CONFIG = frozenset(
    {
        "seed",
        "video_config",
        "thinking_level",
        "thinking_summaries",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
    }
)
TASKS = frozenset({"text_to_video", "image_to_video", "reference_to_video", "edit", "extend"})
VIDEO_FORMAT = frozenset({"type", "aspect_ratio", "resolution", "duration", "delivery", "gcs_uri"})
RESOLUTIONS = ("360p", "720p", "1080p", "4k")
IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
MAX_IMAGES = 10  # images per prompt (platform card, S)
MAX_CHAIN_S = 40  # extensions add up to 40 s at most (OMNIDOC)
REFUSAL_TEXT = "I can't create a video of that, as it goes against my safety guidelines."
MAX_SEED = 2**32 - 1  # U: the SDK types it as int; Veo's seeds are uint32


class GoogleError(Exception):
    """An answer in one of Google's error envelopes."""

    def __init__(
        self,
        http: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        style: str = "rpc",
    ) -> None:
        super().__init__(message)
        self.http, self.status, self.message = http, status, message
        self.details = details or []
        self.style = style

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        error: dict[str, Any]
        if self.style == "string":  # the Interactions API's own: `code` is a string (V)
            error = {"code": self.status.lower(), "message": self.message}
        else:  # google.rpc.Status from the front end
            error = {"code": self.http, "message": self.message, "status": self.status}
            if self.details:
                error["details"] = self.details
        return web.Response(
            status=self.http,
            text=json.dumps({"error": error}),
            content_type="application/json",
            headers=headers,
        )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Interaction:
    id: str
    model: str
    body: dict[str, Any]
    text: str
    started_at: float
    run_s: float
    duration_s: int
    video: bytes
    file_id: str
    previous: Interaction | None = None
    cancelled: bool = False
    file_reads: int = 0

    def chain_s(self) -> int:
        return self.duration_s + (self.previous.chain_s() if self.previous else 0)


class GeminiFake(FakeProvider):
    family = "gemini"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        job_duration_s: float = 0.3,
        video: bytes | None = None,
        api_key: str = API_KEY,
        get_returns_uri: bool = False,
        file_processing_reads: int = 0,
        error_style: str = "string",
        retired_models: Collection[str] = (),
        listed_models: Collection[str] | None = None,
        max_page_size: int = 1000,
        daily_quota_exhausted: bool = False,
        history: bool = True,
    ) -> None:
        super().__init__(clock=clock, job_duration_s=job_duration_s, video=video)
        self.api_key = api_key
        self.get_returns_uri = get_returns_uri
        self.file_processing_reads = file_processing_reads
        self.error_style = error_style
        self.retired_models = GONE | frozenset(retired_models)
        self.listed_models = tuple(
            listed_models if listed_models is not None else (OMNI, *OTHER_MODELS)
        )
        self.max_page_size = max_page_size
        self.daily_quota_exhausted = daily_quota_exhausted
        self.history = history
        # An extension's result differs from a first video, so a test sees which it got.
        self.extended_video = sample_mp4(seconds=2)
        self.interactions: dict[str, Interaction] = {}
        self.cancels: list[str] = []
        self._rate_limited_prompts: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1beta/interactions", self._create),
            web.get("/v1beta/interactions/{id}", self._get),
            web.post("/v1beta/interactions/{id}/cancel", self._cancel),
            web.get("/v1beta/files/{target}", self._file),
            web.get("/v1beta/models", self._models),
        ]

    def invalid(self, message: str) -> GoogleError:
        return GoogleError(400, "INVALID_ARGUMENT", message, style=self.error_style)

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

    # --- create -------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            try:
                body = json.loads(await request.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise self.invalid("Invalid JSON payload received.") from None
            interaction = self._validate(body)
            prompt = interaction.text
            if self.daily_quota_exhausted:
                raise self._quota_error(per_day=True)
            if "[429]" in prompt and prompt not in self._rate_limited_prompts:
                self._rate_limited_prompts.add(prompt)
                return self._quota_error(per_day=False).response({"Retry-After": "1"})
        except GoogleError as err:
            return err.response()
        self.interactions[interaction.id] = interaction
        if body.get("background") is not True:
            # Without `background` the call answers when the video is done (§2.3, S).
            await asyncio.sleep(interaction.run_s)
        # The create answer is the one that carries a `uri` for delivery "uri" (§2.4).
        return json_response(self._answer(interaction, uri=True))

    def _quota_error(self, *, per_day: bool) -> GoogleError:
        period = "Day" if per_day else "Minute"
        return GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            f"interactions_requests_per_model_per_{period.lower()}",
                            "quotaId": f"InteractionsRequestsPer{period}PerProjectPerModel",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
            ],
        )

    def _validate(self, body: Any) -> Interaction:
        if not isinstance(body, dict):
            raise self.invalid("Invalid JSON payload received. Expected an object.")
        for key in body:
            if key not in CREATE_FIELDS:
                raise self.invalid(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
                )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise self.invalid("model is required.")
        if model in self.retired_models:
            raise GoogleError(
                404, "NOT_FOUND", f"models/{model} is no longer available.", style=self.error_style
            )
        if model != OMNI:
            raise GoogleError(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta.",
                style=self.error_style,
            )
        for key in OMNI_REFUSES & set(body):
            raise self.invalid(f"{key} is not supported by {model}.")
        if body.get("stream"):
            raise self.invalid("This fake answers without streaming; leave stream out.")
        for flag in ("background", "store"):
            if flag in body and not isinstance(body[flag], bool):
                raise self.invalid(f"{flag} must be a boolean.")
        if body.get("background") and body.get("store") is False:
            raise self.invalid("background interactions must be stored.")
        images, text = self._check_input(body.get("input"))
        duration = self._check_format(body.get("response_format"))
        self._check_config(body.get("generation_config"))
        self._check_webhook(body.get("webhook_config"))
        previous = self._check_previous(body.get("previous_interaction_id"), duration)
        self._check_tags(text, images, extends=previous is not None)
        run_s = self.job_duration_s * (100 if "[slow]" in text else 1)
        return Interaction(
            id=f"v1_{secrets.token_hex(8)}",
            model=model,
            body=body,
            text=text,
            started_at=self.clock(),
            run_s=run_s,
            duration_s=duration,
            video=self.extended_video if previous is not None else self.video,
            file_id=secrets.token_hex(6),
            previous=previous,
        )

    def _check_input(self, value: Any) -> tuple[int, str]:
        """Refuse what the API refuses; the number of images and the text."""
        if isinstance(value, str):
            if not value.strip():
                raise self.invalid("input must not be empty.")
            return 0, value
        blocks: list[Any]
        if isinstance(value, dict):
            blocks = [value]
        elif isinstance(value, list) and value:
            blocks = value
            if all(isinstance(b, dict) and b.get("type") == "user_input" for b in value):
                blocks = [c for step in value for c in (step.get("content") or [])]
        else:
            raise self.invalid("input must be a string, a content block or a list of them.")
        images, texts = 0, []
        for index, block in enumerate(blocks):
            where = f"input[{index}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if set(block) != {"type", "text"} or not isinstance(block["text"], str):
                    raise self.invalid(f"{where} takes type and text.")
                texts.append(block["text"])
            elif kind == "image":
                images += 1
                self._check_image(block, where)
            elif kind in ("video", "document"):
                uri = block.get("uri")
                if not isinstance(uri, str) and not isinstance(block.get("data"), str):
                    raise self.invalid(f"{where} needs data or a uri.")
            else:
                raise self.invalid(f"{where}.type {kind!r} is not a content type.")
        if images > MAX_IMAGES:
            raise self.invalid(f"At most {MAX_IMAGES} images per request, not {images}.")
        text = " ".join(texts)
        if not text.strip():
            raise self.invalid("A text prompt is required to make a video.")
        return images, text

    def _check_image(self, block: dict[str, Any], where: str) -> None:
        keys = set(block) - {"type"}
        if keys not in ({"data", "mime_type"}, {"uri", "mime_type"}, {"uri"}):
            raise self.invalid(f"{where} needs data and mime_type (or a uri).")
        if "uri" in keys:
            return
        try:
            data = base64.b64decode(block["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise self.invalid(f"{where}.data is not valid base64.") from None
        mime = block["mime_type"]
        is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        matches = (
            is_webp if mime == "image/webp" else data.startswith(IMAGE_MAGIC.get(mime, b"\x00"))
        )
        if mime not in (*IMAGE_MAGIC, "image/webp") or not matches:
            raise self.invalid(f"{where} is not a {mime} image.")

    def _check_format(self, value: Any) -> int:
        """The video response format; the duration asked for (8 s when left out)."""
        formats = value if isinstance(value, list) else [value] if value is not None else []
        duration = 8
        for fmt in formats:
            if not isinstance(fmt, dict) or fmt.get("type") != "video":
                raise self.invalid("response_format must be a video format for this model.")
            for key in fmt:
                if key not in VIDEO_FORMAT:
                    raise self.invalid(f'Unknown name "{key}" at "response_format".')
            if fmt.get("aspect_ratio", "16:9") not in ("16:9", "9:16"):
                raise self.invalid("aspect_ratio must be 16:9 or 9:16.")
            if fmt.get("resolution", "720p") not in RESOLUTIONS:
                raise self.invalid(f"resolution must be one of {', '.join(RESOLUTIONS)}.")
            if fmt.get("delivery", "inline") not in ("inline", "uri"):
                raise self.invalid("delivery must be inline or uri.")
            if "gcs_uri" in fmt:
                raise self.invalid("gcs_uri is only supported on Vertex AI.")
            if "duration" in fmt:
                # A Duration string; third parties report a bare number refused (U).
                raw = fmt["duration"]
                found = re.fullmatch(r"(\d+)s", raw) if isinstance(raw, str) else None
                if found is None:
                    raise self.invalid(f'duration {raw!r} is not a duration like "8s".')
                duration = int(found.group(1))
                if not 3 <= duration <= 10:
                    raise self.invalid("duration must be from 3s to 10s.")
        return duration

    def _check_config(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.invalid("generation_config must be an object.")
        for key in value:
            if key not in GENERATION_CONFIG:
                raise self.invalid(f'Unknown name "{key}" at "generation_config".')
            if key in OMNI_REFUSED_CONFIG:
                raise self.invalid(f"{key} is not supported by {OMNI}.")
        seed = value.get("seed")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
        ):
            raise self.invalid("seed must be a whole number.")
        video_config = value.get("video_config")
        if video_config is not None and (
            not isinstance(video_config, dict)
            or not set(video_config) <= {"task"}
            or video_config.get("task", "extend") not in TASKS
        ):
            raise self.invalid(f"video_config.task must be one of {', '.join(sorted(TASKS))}.")

    def _check_webhook(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict) or not set(value) <= {"uris", "user_metadata"}:
            raise self.invalid("webhook_config takes uris and user_metadata.")
        uris = value.get("uris", [])
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise self.invalid("webhook_config.uris must be a list of URLs.")
        if not isinstance(value.get("user_metadata", {}), dict):
            raise self.invalid("webhook_config.user_metadata must be an object.")

    def _check_previous(self, value: Any, duration: int) -> Interaction | None:
        if value is None:
            return None
        previous = self.interactions.get(value) if isinstance(value, str) else None
        if previous is None or previous.body.get("store") is False:
            raise self.invalid("Invalid interaction name.")
        if self._state(previous) != "completed":
            raise self.invalid("The previous interaction has no video to continue yet.")
        if previous.chain_s() + duration > MAX_CHAIN_S:
            raise self.invalid(f"Extensions may add up to {MAX_CHAIN_S} seconds in total.")
        return previous

    def _check_tags(self, text: str, images: int, *, extends: bool) -> None:
        """The documented role tags (OMNIDOC "Using tags"): `<LAST_FRAME>` only with
        `<FIRST_FRAME>`, `@ImageN` only for images sent, `<PREVIOUS_VIDEO>` only on a chain."""
        if "<LAST_FRAME>" in text and "<FIRST_FRAME>" not in text:
            raise self.invalid("<LAST_FRAME> must be used with <FIRST_FRAME>.")
        for number in re.findall(r"@Image(\d+)", text):
            if not 1 <= int(number) <= images:
                raise self.invalid(f"Image{number} is declared but no such image was sent.")
        if "<PREVIOUS_VIDEO>" in text and not extends:
            raise self.invalid("<PREVIOUS_VIDEO> needs a previous_interaction_id.")

    # --- reading ------------------------------------------------------------------------

    def _state(self, interaction: Interaction) -> str:
        if interaction.cancelled:
            return "cancelled"
        elapsed = self.clock() - interaction.started_at
        if elapsed < interaction.run_s / 3:
            return "queued"
        if elapsed < interaction.run_s:
            return "in_progress"
        for flag, state in (
            ("[fail]", "failed"),
            ("[blocked]", "failed"),
            ("[incomplete]", "incomplete"),
            ("[budget]", "budget_exceeded"),
            ("[action]", "requires_action"),
        ):
            if flag in interaction.text:
                return state
        return "completed"

    def file_uri(self, interaction: Interaction) -> str:
        return f"{self.base_url}/v1beta/files/{interaction.file_id}:download?alt=media"

    def _turn(self, interaction: Interaction, state: str, *, uri: bool) -> list[dict[str, Any]]:
        """The steps of one turn: the user's words, a thought, and the model's output."""
        steps: list[dict[str, Any]] = [
            {"type": "user_input", "content": [{"type": "text", "text": interaction.text}]}
        ]
        if state not in ("completed", "failed"):
            return steps
        steps.append({"type": "thought", "content": [{"type": "thought", "text": "Planning."}]})
        if state == "failed":
            if "[blocked]" in interaction.text:
                error = {"code": 3, "message": "The output was blocked by safety filters."}
            else:
                error = {"code": 13, "message": "Video generation failed."}
            steps.append({"type": "model_output", "content": [], "error": error})
        elif "[refuse]" in interaction.text:
            steps.append(
                {"type": "model_output", "content": [{"type": "text", "text": REFUSAL_TEXT}]}
            )
        else:
            video: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
            if uri:
                video |= {"data": None, "uri": self.file_uri(interaction)}
            else:
                encoded = base64.b64encode(interaction.video).decode("ascii")
                video |= {"data": encoded, "uri": None}
            video["resolution"] = None
            steps.append({"type": "model_output", "content": [video]})
        return steps

    def _answer(self, interaction: Interaction, *, uri: bool) -> dict[str, Any]:
        state = self._state(interaction)
        steps: list[dict[str, Any]] = []
        if self.history:
            earlier, chain = interaction.previous, list[Interaction]()
            while earlier is not None:
                chain.insert(0, earlier)
                earlier = earlier.previous
            for turn in chain:
                steps += self._turn(turn, "completed", uri=uri)
        steps += self._turn(interaction, state, uri=uri)
        answer: dict[str, Any] = {
            "id": interaction.id,
            "object": "interaction",
            "status": state,
            "model": interaction.model,
            "created": _now_iso(),
            "updated": _now_iso(),
            "steps": steps,
        }
        if interaction.previous is not None:
            answer["previous_interaction_id"] = interaction.previous.id
        if state == "failed":
            answer["errors"] = [{"code": "generation_failed", "message": "The interaction failed."}]
        return answer

    async def _get(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            interaction = self.interactions.get(request.match_info["id"])
            if interaction is None:
                raise self.invalid("Invalid interaction name.")
        except GoogleError as err:
            return err.response()
        # GET answers inline even after delivery "uri" (§2.4, V); the option is the U other way.
        return json_response(self._answer(interaction, uri=self.get_returns_uri))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            interaction = self.interactions.get(request.match_info["id"])
            if interaction is None:
                raise self.invalid("Invalid interaction name.")
            if self._state(interaction) not in ("queued", "in_progress"):
                raise GoogleError(
                    400,
                    "FAILED_PRECONDITION",
                    "Only running background interactions can be cancelled.",
                    style=self.error_style,
                )
        except GoogleError as err:
            return err.response()
        interaction.cancelled = True
        self.cancels.append(interaction.id)
        return json_response(self._answer(interaction, uri=True))

    def _file_of(self, file_id: str) -> Interaction | None:
        for interaction in self.interactions.values():
            if interaction.file_id == file_id and self._state(interaction) == "completed":
                return interaction
        return None

    async def _file(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            file_id, _, method = request.match_info["target"].partition(":")
            interaction = self._file_of(file_id)
            if interaction is None:
                raise GoogleError(404, "NOT_FOUND", f"File files/{file_id} not found.")
            processing = interaction.file_reads < self.file_processing_reads
            if not method:
                interaction.file_reads += 1
                return json_response(
                    {
                        "name": f"files/{file_id}",
                        "mimeType": "video/mp4",
                        "sizeBytes": str(len(interaction.video)),
                        "state": "PROCESSING" if processing else "ACTIVE",
                        "uri": self.file_uri(interaction),
                    }
                )
            if method != "download" or request.query.get("alt") != "media":
                raise self.invalid("Use files/{id}:download?alt=media to fetch a file's bytes.")
            if processing:
                raise GoogleError(
                    400, "FAILED_PRECONDITION", f"File files/{file_id} is not ACTIVE yet."
                )
        except GoogleError as err:
            return err.response()
        return web.Response(body=interaction.video, content_type="video/mp4")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            size = int(request.query.get("pageSize", "50"))
            start = int(request.query.get("pageToken") or 0)
        except GoogleError as err:
            return err.response()
        except ValueError:
            return self.invalid("pageSize and pageToken must be numbers.").response()
        size = max(1, min(size, self.max_page_size))
        names = self.listed_models[start : start + size]
        page: dict[str, Any] = {
            "models": [
                {
                    "name": f"models/{name}",
                    "displayName": name,
                    "supportedGenerationMethods": ["createInteraction"],
                }
                for name in names
            ]
        }
        if start + size < len(self.listed_models):
            page["nextPageToken"] = str(start + size)
        return json_response(page)


def create(**options: Any) -> GeminiFake:
    return GeminiFake(**options)
