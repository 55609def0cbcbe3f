"""A fake of OpenRouter's video API (docs/providers.md §5), under `/api/v1`: `POST /videos`
(202) checked field by field against the request schema and the model's own capabilities from
`GET /videos/models`, `GET /videos/{id}` through `pending`, `in_progress` and a terminal
status, `GET /videos/{id}/content?index=0` with the key, `GET /key`, and webhooks to
`callback_url` when a job ends, signed `X-OpenRouter-Signature: t=,v1=` when the fake has a
`webhook_secret`, with `X-OpenRouter-Idempotency-Key: <id>-<status>`. Images given as URLs are
fetched (data URLs decoded) and must be PNG, JPEG or WebP.

Options: `models` (the `/videos/models` entries), `credits` (402 when spent), `webhook_secret`,
`http_callbacks` (accept a plain-HTTP `callback_url`; OpenRouter wants HTTPS, which the test
bot's server does not speak), `relative_polling_url`, `omit_result_urls` (a completed job
without `unsigned_urls`), `signed_urls` (a completed job with only a signed `urls[0]` on
another origin, `localhost`, which records any Authorization it sees), `result_ttl_s` (the
content answers 404 that long after the job ended). Magic prompts: "[fail]", "[rai]" (failed:
content policy), "[expire]", "[cancel]", "[slow]" (100x longer), "[flagged]" (403 moderation
at submit), "[429]" (the first submit of that prompt answers 429 with Retry-After: 1).
Unverified details (U in docs/providers.md) are tolerated: the 404 for an unknown model and the
answers of the content route for a job not finished are the fake's best guess.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.media import sniff_image_mime
from tests.fakes._base import FakeProvider, bearer, json_response

API_KEY = "sk-or-v1-test"
API = "/api/v1"
STANDALONE_HINT = (
    f"OPENROUTER_API_KEY={API_KEY} OPENROUTER_BASE_URL=<the address above>{API}; "
    "webhooks unsigned (leave OPENROUTER_WEBHOOK_SECRET unset), callback_url must be HTTPS"
)
# The request schema's enums (ORSDK `videogenerationrequest.ts`; the guide adds 768p).
RESOLUTIONS = ("480p", "720p", "768p", "1080p", "1K", "2K", "4K")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")
FIELDS = {
    "model",
    "prompt",
    "duration",
    "resolution",
    "aspect_ratio",
    "size",
    "frame_images",
    "input_references",
    "input_audio",
    "generate_audio",
    "seed",
    "callback_url",
    "provider",
}
TERMINAL = ("completed", "failed", "cancelled", "expired")
JOB_ID_CHARS = 20  # secrets.token_urlsafe(15)
# A glob for `GET /videos/{id}` alone: `*` would also match `/videos/{id}/content`.
JOB_PATH = f"{API}/videos/" + "?" * JOB_ID_CHARS


def video_model(
    model: str,
    name: str,
    *,
    durations: list[int] | None = None,
    resolutions: list[str] | None = None,
    aspect_ratios: list[str] | None = None,
    frames: list[str] | None = None,
    audio: bool | None = True,
    seed: bool | None = True,
    pricing: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One `/videos/models` entry in the SDK's `VideoModel` shape."""
    return {
        "id": model,
        "canonical_slug": model,
        "name": name,
        "description": f"{name}, served through OpenRouter.",
        "created": 1_760_000_000,
        "supported_resolutions": resolutions,
        "supported_aspect_ratios": aspect_ratios,
        "supported_sizes": None,
        "supported_durations": durations,
        "supported_frame_images": frames,
        "generate_audio": audio,
        "seed": seed,
        "pricing_skus": pricing,
        "allowed_passthrough_parameters": [],
        "creativity": None,
        "upscale_factor": None,
    }


def veo(model: str, name: str, pricing: dict[str, str] | None = None) -> dict[str, Any]:
    return video_model(
        model,
        name,
        durations=[8, 4, 6],  # unordered, as the cookbook prints it
        resolutions=["720p", "1080p"],
        aspect_ratios=["16:9", "9:16"],
        frames=["first_frame", "last_frame"],
        pricing=pricing,
    )


def default_models() -> list[dict[str, Any]]:
    return [
        video_model(
            "alibaba/wan-2.7",
            "Alibaba: Wan 2.7",
            durations=[5, 10],
            resolutions=["1080p", "720p"],
            aspect_ratios=["16:9", "9:16", "1:1", "4:3", "3:4"],
            frames=["first_frame"],
            audio=None,
            seed=None,
            pricing={"per-video-second-720p": "0.10", "per-video-second-1080p": "0.15"},
        ),
        veo(
            "google/veo-3.1",
            "Google: Veo 3.1",
            {"per-video-second": "0.20", "per-video-second-audio": "0.40"},
        ),
        veo(
            "google/veo-3.1-fast",
            "Google: Veo 3.1 Fast",
            {"per-video-second": "0.10", "per-video-second-audio": "0.15"},
        ),
        veo("google/veo-3.1-lite", "Google: Veo 3.1 Lite", {"per-video-second": "0.05"}),
        # A model whose entry states no durations: nothing the bot could charge quota by.
        video_model("example/no-limits", "Example: no limits", audio=None, seed=None),
    ]


@dataclass
class FakeJob:
    id: str
    key: str
    body: dict[str, Any]
    started: float
    run_s: float
    generation_id: str = field(default_factory=lambda: "gen-" + secrets.token_hex(8))
    ended_at: float | None = None
    callbacks: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)


def _error(
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    response = json_response({"error": error}, status)
    response.headers.update(headers or {})
    return response


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` as OpenRouter computes it: hex HMAC-SHA256 of "{t},{raw body}"."""
    return hmac.new(secret.encode(), f"{timestamp},".encode() + body, hashlib.sha256).hexdigest()


class OpenRouterFake(FakeProvider):
    family = "openrouter"

    def __init__(
        self,
        *,
        models: list[dict[str, Any]] | None = None,
        credits: int = 1_000,
        webhook_secret: str | None = None,
        http_callbacks: bool = False,
        relative_polling_url: bool = False,
        omit_result_urls: bool = False,
        signed_urls: bool = False,
        result_ttl_s: float = 3600.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.models = models if models is not None else default_models()
        self.credits = credits
        self.webhook_secret = webhook_secret
        self.http_callbacks = http_callbacks
        self.relative_polling_url = relative_polling_url
        self.omit_result_urls = omit_result_urls
        self.signed_urls = signed_urls
        self.result_ttl_s = result_ttl_s
        self.jobs: dict[str, FakeJob] = {}
        self.fetched_images: list[bytes] = []
        self.storage_saw_authorization = False
        self._throttled: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def api_base(self) -> str:
        """What OPENROUTER_BASE_URL is set to."""
        return self.base_url + API

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/videos", self._create),
            web.get(f"{API}/videos/models", self._models),
            web.get(API + "/videos/{id}", self._job),
            web.get(API + "/videos/{id}/content", self._content),
            web.get(f"{API}/key", self._key),
            web.get("/storage/{id}.mp4", self._storage),
        ]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await super().close()

    # --- auth and models ------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        key = bearer(request)
        if key is None:
            return _error(401, "No auth credentials found")
        if key != API_KEY:
            return _error(401, "User not found.")
        return None

    def model(self, model_id: Any) -> dict[str, Any] | None:
        return next((m for m in self.models if m["id"] == model_id), None)

    async def _models(self, request: web.Request) -> web.Response:
        return json_response({"data": self.models})  # the docs call it without a key

    async def _key(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        return json_response(
            {
                "data": {
                    "label": API_KEY[:12] + "...",
                    "limit": 50.0,
                    "usage": 12.5,
                    "limit_remaining": 37.5,
                    "is_free_tier": False,
                }
            }
        )

    # --- POST /videos ---------------------------------------------------------------------

    async def _image(self, part: Any, where: str) -> str | None:
        """Fetch or decode an `image_url` part; the problem in words, or None."""
        if not isinstance(part, dict) or part.get("type") != "image_url":
            return f'{where}.type must be "image_url"'
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else None
        if not isinstance(url, str) or not url:
            return f"{where}.image_url.url is required"
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if not header.endswith(";base64"):
                return f"{where}.image_url.url: only base64 data URLs are accepted"
            try:
                data = base64.b64decode(payload, validate=True)
            except binascii.Error:
                return f"{where}.image_url.url is not valid base64"
        elif url.startswith(("https://", "http://")):
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                if response.status != 200:
                    return f"{where}.image_url.url could not be fetched ({response.status})"
                data = await response.read()
        else:
            return f"{where}.image_url.url must be an http(s) or data URL"
        if sniff_image_mime(data) is None:
            return f"{where}.image_url.url is not a PNG, JPEG or WebP image"
        self.fetched_images.append(data)
        return None

    async def _problems(self, body: dict[str, Any], spec: dict[str, Any]) -> list[str]:
        problems = [f"Unrecognized key: {key!r}" for key in sorted(set(body) - FIELDS)]
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append("prompt is required")
        duration = body.get("duration")
        if duration is not None:
            if type(duration) is not int or duration < 1:
                problems.append("duration must be a positive integer")
            elif spec["supported_durations"] and duration not in spec["supported_durations"]:
                problems.append(
                    f"duration {duration} is not supported; use {spec['supported_durations']}"
                )
        for name, allowed, offered in (
            ("resolution", RESOLUTIONS, spec["supported_resolutions"]),
            ("aspect_ratio", ASPECT_RATIOS, spec["supported_aspect_ratios"]),
        ):
            value = body.get(name)
            if value is None:
                continue
            if value not in allowed:
                problems.append(f"{name} must be one of {list(allowed)}")
            elif offered and value not in offered:
                problems.append(f"{name} {value} is not supported by {spec['id']}")
        size = body.get("size")
        if size is not None and not (isinstance(size, str) and re.fullmatch(r"\d+x\d+", size)):
            problems.append('size must look like "1280x720"')
        for name in ("generate_audio",):
            if name in body and not isinstance(body[name], bool):
                problems.append(f"{name} must be a boolean")
        if body.get("generate_audio") is True and spec["generate_audio"] is False:
            problems.append(f"{spec['id']} does not generate audio")
        seed = body.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed < 2**32):
            problems.append("seed must be an integer")
        callback = body.get("callback_url")
        if callback is not None:
            schemes = ("https://", "http://") if self.http_callbacks else ("https://",)
            if not isinstance(callback, str) or not callback.startswith(schemes):
                problems.append("callback_url must be an HTTPS URL")
        if "provider" in body and not isinstance(body["provider"], dict):
            problems.append("provider must be an object")
        frames = body.get("frame_images")
        if frames is not None:
            if not isinstance(frames, list) or not frames:
                problems.append("frame_images must be a non-empty array")
                frames = []
            kinds = [f.get("frame_type") if isinstance(f, dict) else None for f in frames]
            for i, kind in enumerate(kinds):
                if kind not in ("first_frame", "last_frame"):
                    problems.append(
                        f'frame_images[{i}].frame_type must be "first_frame" or "last_frame"'
                    )
                elif kind not in (spec["supported_frame_images"] or ()):
                    problems.append(f"{spec['id']} does not support {kind}")
            if len(set(kinds)) != len(kinds):
                problems.append("frame_images has the same frame_type twice")
            for i, frame in enumerate(frames):
                if problem := await self._image(frame, f"frame_images[{i}]"):
                    problems.append(problem)
        references = body.get("input_references")
        if references is not None:
            if not isinstance(references, list) or not references:
                problems.append("input_references must be a non-empty array")
                references = []
            if str(spec["id"]).startswith("google/veo"):
                # Vertex Veo 3.1: 1-3 asset images, 8 s videos only (docs/providers.md §1.1).
                if len(references) > 3:
                    problems.append("Veo takes at most 3 reference images")
                if duration not in (None, 8):
                    problems.append("Veo makes reference-to-video at 8 seconds only")
            for i, reference in enumerate(references):
                if isinstance(reference, dict) and "frame_type" in reference:
                    problems.append(f"input_references[{i}] takes no frame_type")
                if problem := await self._image(reference, f"input_references[{i}]"):
                    problems.append(problem)
        return problems

    async def _create(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _error(400, "model is required")
        spec = self.model(body["model"])
        if spec is None:
            return _error(404, f"Model {body['model']} not found or does not generate videos")
        problems = await self._problems(body, spec)
        if problems:
            return _error(400, "; ".join(problems))
        prompt: str = body["prompt"]
        if "[429]" in prompt and prompt not in self._throttled:
            self._throttled.add(prompt)
            return _error(429, "Rate limit exceeded", headers={"Retry-After": "1"})
        if "[flagged]" in prompt:
            return _error(
                403,
                "Your chosen model requires moderation and your input was flagged",
                metadata={"reasons": ["violence"], "flagged_input": prompt[:40]},
            )
        if self.credits <= 0:
            return _error(402, "Insufficient credits. Add more using https://openrouter.ai/credits")
        self.credits -= 1
        job_id = secrets.token_urlsafe(15)
        run_s = self.job_duration_s * (100 if "[slow]" in prompt else 1)
        job = FakeJob(job_id, API_KEY, body, self.clock(), run_s)
        self.jobs[job_id] = job
        if "callback_url" in body:
            task = asyncio.create_task(self._call_back(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        answer = {"id": job_id, "polling_url": self._polling_url(job), "status": "pending"}
        return json_response(answer, 202)

    # --- jobs -----------------------------------------------------------------------------

    def _polling_url(self, job: FakeJob) -> str:
        path = f"{API}/videos/{job.id}"
        return path if self.relative_polling_url else self.base_url + path

    def status_of(self, job: FakeJob) -> str:
        elapsed = self.clock() - job.started
        if elapsed < job.run_s / 3:
            return "pending"
        if elapsed < job.run_s:
            return "in_progress"
        if job.ended_at is None:
            job.ended_at = job.started + job.run_s
        prompt = job.body["prompt"]
        for magic, status in (
            ("[fail]", "failed"),
            ("[rai]", "failed"),
            ("[expire]", "expired"),
            ("[cancel]", "cancelled"),
        ):
            if magic in prompt:
                return status
        return "completed"

    def reading(self, job: FakeJob) -> dict[str, Any]:
        """`VideoGenerationResponse` as `GET /videos/{id}` answers it."""
        status = self.status_of(job)
        answer: dict[str, Any] = {
            "id": job.id,
            "polling_url": self._polling_url(job),
            "status": status,
        }
        if status != "pending":
            answer["generation_id"] = job.generation_id
        if status == "completed":
            if self.signed_urls:
                answer["urls"] = [f"http://localhost:{self.port}/storage/{job.id}.mp4"]
            elif not self.omit_result_urls:
                answer["unsigned_urls"] = [f"{self.api_base}/videos/{job.id}/content?index=0"]
            seconds = job.body.get("duration") or 8
            answer["usage"] = {"cost": round(0.1 * seconds, 2), "is_byok": False}
        elif status == "failed":
            prompt = job.body["prompt"]
            answer["error"] = "Content policy violation" if "[rai]" in prompt else "Upstream error"
        elif status == "cancelled":
            answer["error"] = "Job was cancelled"
        elif status == "expired":
            answer["error"] = "Job exceeded maximum time to live"
        return answer

    def _find(self, request: web.Request) -> FakeJob | web.Response:
        if refused := self._refused(request):
            return refused
        job = self.jobs.get(request.match_info["id"])
        if job is None or job.key != bearer(request):
            return _error(404, "Video generation job not found")
        return job

    async def _job(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if isinstance(job, web.Response):
            return job
        return json_response(self.reading(job))

    def _content_gone(self, job: FakeJob) -> bool:
        return job.ended_at is not None and self.clock() - job.ended_at > self.result_ttl_s

    async def _content(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if isinstance(job, web.Response):
            return job
        index = request.query.get("index", "0")
        if not index.isdigit():
            return _error(400, "index must be a non-negative integer")
        status = self.status_of(job)
        if status != "completed":
            return _error(400, f"Video generation is not completed (status: {status})")
        if int(index) != 0 or self._content_gone(job):
            return _error(404, "Video content not found")
        return web.Response(body=self.video, content_type="video/mp4")

    async def _storage(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.storage_saw_authorization = True
        job = self.jobs.get(request.match_info["id"])
        if job is None or self.status_of(job) != "completed" or self._content_gone(job):
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        return web.Response(body=self.video, content_type="video/mp4")

    # --- webhooks -------------------------------------------------------------------------

    def envelope(self, job: FakeJob) -> dict[str, Any]:
        reading = self.reading(job)
        data: dict[str, Any] = {
            key: reading[key]
            for key in ("id", "status", "generation_id", "unsigned_urls", "usage", "error")
            if key in reading
        }
        data["model"] = job.body["model"]
        return {
            "type": f"video.generation.{reading['status']}",
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "data": data,
        }

    def webhook_headers(self, job_id: str, status: str, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-OpenRouter-Idempotency-Key": f"{job_id}-{status}",
        }
        if self.webhook_secret is not None:
            stamp = int(time.time())
            headers["X-OpenRouter-Signature"] = (
                f"t={stamp},v1={sign(self.webhook_secret, stamp, body)}"
            )
        return headers

    async def _call_back(self, job: FakeJob) -> None:
        """POST the terminal job to its callback_url as soon as it ends."""
        while self.status_of(job) not in TERMINAL:  # noqa: ASYNC110 - jobs end on the fake's clock
            await asyncio.sleep(job.run_s / 20)
        payload = self.envelope(job)
        body = json.dumps(payload).encode()
        headers = self.webhook_headers(job.id, payload["data"]["status"], body)
        async with aiohttp.ClientSession() as session:
            try:
                async with session.post(
                    job.body["callback_url"], data=body, headers=headers
                ) as answer:
                    status = answer.status
            except aiohttp.ClientError:
                status = 0  # unreachable receiver; OpenRouter's retry policy is undocumented
        job.callbacks.append((status, payload, headers))


def create(**options: Any) -> OpenRouterFake:
    return OpenRouterFake(**options)
