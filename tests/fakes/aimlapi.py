"""A fake of AIML API's Veo 2 endpoints, checked as the vendor's
OpenAPI files describe, on both the legacy and the universal URL.

Magic prompts: "[fail]" ends in `error`, "[rai]" in a moderation error, "[slow]" runs 100x
longer, "[429]" has the first submit of that prompt answer 429 (no Retry-After, as AIML does).
Results are served from a second origin (`localhost` instead of `127.0.0.1`, like AIML's CDN),
which records whether it ever saw an Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.media import sniff_image_mime
from tests.fakes._base import FakeProvider, bearer, json_response

API_KEY = "aiml-test-key"
STANDALONE_HINT = f"AIMLAPI_KEY={API_KEY} AIMLAPI_BASE_URL=<the address above>"
MODELS = ("veo2", "veo2/image-to-video")
PATHS = ("/v2/generate/video/google/generation", "/v2/video/generations")


@dataclass
class FakeGeneration:
    id: str
    body: dict[str, Any]
    started: float
    run_s: float
    file: str  # the CDN name: opaque ids hold ':' and '/', which a path cannot
    expired: bool = False


def _envelope(status: int, message: str, path: str) -> web.Response:
    return json_response(
        {
            "message": message,
            "path": path,
            "requestId": secrets.token_hex(8),
            "statusCode": str(status),  # a string in the vendor's own example
            "timestamp": "2026-11-22T10:00:00.000Z",
        },
        status,
    )


class AimlapiFake(FakeProvider):
    family = "aimlapi"

    def __init__(self, *, credits: int = 1_000, opaque_ids: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.credits = credits
        self.opaque_ids = opaque_ids
        self.generations: dict[str, FakeGeneration] = {}
        self.fetched_images: list[bytes] = []
        self.cdn_saw_authorization = False
        self._throttled: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            *(web.post(path, self._create) for path in PATHS),
            *(web.get(path, self._fetch) for path in PATHS),
            web.get("/cdn/{id}.mp4", self._cdn),
            web.get("/v1/billing/balance", self._balance),
        ]

    async def _balance(self, request: web.Request) -> web.StreamResponse:
        """AIML's account balance, the cheap authenticated call (fields S)."""
        if bearer(request) != API_KEY:
            return _envelope(401, "Unauthorized: invalid API key", request.path)
        return json_response(
            {"balance": self.credits, "lowBalance": self.credits < 20, "lowBalanceThreshold": 20}
        )

    def expire(self, generation_id: str) -> None:
        self.generations[generation_id].expired = True

    async def _image(self, value: Any) -> bytes | None:
        """What AIML would do with an image field: fetch the URL or decode base64."""
        if not isinstance(value, str):
            return None
        if value.startswith("data:"):
            try:
                data = base64.b64decode(value.partition(",")[2], validate=True)
            except binascii.Error:
                return None
        elif value.startswith(("http://", "https://")):
            async with aiohttp.ClientSession() as session, session.get(value) as response:
                if response.status != 200:
                    return None
                data = await response.read()
        else:
            return None
        return data if sniff_image_mime(data) else None

    async def _create(self, request: web.Request) -> web.Response:
        if bearer(request) != API_KEY:
            return _envelope(401, "Unauthorized: invalid API key", request.path)
        try:
            body = await request.json()
        except ValueError:
            return _envelope(400, "Body validation error!", request.path)
        problems = await self._validate(body)
        if problems:
            return _envelope(400, "Body validation error! " + "; ".join(problems), request.path)
        prompt = body["prompt"]
        if "[429]" in prompt and prompt not in self._throttled:
            self._throttled.add(prompt)
            return _envelope(429, "Too many requests", request.path)
        if self.credits <= 0:
            return _envelope(403, "You have run out of credits", request.path)
        self.credits -= 1
        generation_id = secrets.token_hex(8) + ("-0cdf:google/veo2" if self.opaque_ids else "")
        run_s = self.job_duration_s * (100 if "[slow]" in prompt else 1)
        self.generations[generation_id] = FakeGeneration(
            generation_id, body, self.clock(), run_s, secrets.token_hex(6)
        )
        return json_response({"id": generation_id, "status": "queued"})

    async def _validate(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Expected object"]
        problems = []
        model = body.get("model")
        if model not in MODELS:
            problems.append(f"model: Expected {' | '.join(MODELS)}, Received {model!r}")
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            problems.append("prompt: Required")
        if "aspect_ratio" in body and body["aspect_ratio"] not in ("16:9", "9:16"):
            problems.append(
                f"aspect_ratio: Expected '16:9' | '9:16', Received {body['aspect_ratio']!r}"
            )
        duration = body.get("duration", 5)
        if str(duration) not in ("5", "6", "7", "8"):
            problems.append(f"duration: Expected 5 | 6 | 7 | 8, Received {duration!r}")
        if "seed" in body and not isinstance(body["seed"], int):
            problems.append("seed: Expected integer")
        if model == "veo2/image-to-video":
            for field, required in (("image_url", True), ("tail_image_url", False)):
                if field not in body:
                    if required:
                        problems.append(f"{field}: Required")
                    continue
                data = await self._image(body[field])
                if data is None:
                    problems.append(f"{field}: not a reachable PNG, JPEG or WebP image")
                else:
                    self.fetched_images.append(data)
        elif model == "veo2" and ("image_url" in body or "tail_image_url" in body):
            problems.append("image_url: not allowed for veo2 (use veo2/image-to-video)")
        return problems

    async def _fetch(self, request: web.Request) -> web.Response:
        if bearer(request) != API_KEY:
            return _envelope(401, "Unauthorized: invalid API key", request.path)
        generation = self.generations.get(request.query.get("generation_id", ""))
        if generation is None or generation.expired:
            return _envelope(404, "Generation not found", request.path)
        elapsed = self.clock() - generation.started
        answer: dict[str, Any] = {"id": generation.id, "video": None, "error": None, "meta": None}
        prompt = generation.body["prompt"]
        if elapsed < generation.run_s / 2:
            answer["status"] = "queued"
        elif elapsed < generation.run_s:
            answer["status"] = "generating"
        elif "[fail]" in prompt:
            answer |= {"status": "error", "error": {"name": "GenerationError", "message": "failed"}}
        elif "[rai]" in prompt:
            answer |= {
                "status": "error",
                "error": {"name": "ModerationError", "message": "Prompt violates safety policy"},
            }
        else:
            answer |= {
                "status": "completed",
                "video": {"url": f"http://localhost:{self.port}/cdn/{generation.file}.mp4"},
                "meta": {"usage": {"credits_used": 120000}},
            }
        return json_response(answer)

    async def _cdn(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.cdn_saw_authorization = True
        if request.match_info["id"] not in {g.file for g in self.generations.values()}:
            return web.Response(status=404)
        return web.Response(body=self.video, content_type="video/mp4")


def create(**options: Any) -> AimlapiFake:
    return AimlapiFake(**options)
