"""A fake OpenAI-style video gateway (new-api family): `POST /v1/video/generations` in either
request dialect (tokensmind's `images`, uniall's `veo31`), task
status in any of the shapes A to D, the `/content` proxy that needs the key, `task_not_exist`.

Options: `dialect`; `shape` ("A" | "B" | "C" | "D") for GET /v1/video/generations/{id};
`result` ("proxy" = the key-protected `/v1/videos/{id}/content`, "cdn" = a second origin
(`localhost`) that records any Authorization it sees, "data" = a data: URI); `credits`.
Shape D is new-api's OpenAI video object (docs/providers.md §6): it names no URL (unless
`shape_d_url`, as some channel adaptors put one in `metadata.url`), and its video is served by
`GET /v1/videos/{id}/content` with new-api's answers: 404 "Task not found" for a task that is
not the caller's, 400 "Task is not completed yet, current status: <s>" before it is done, and
for the first `content_not_ready` calls after it is done too. Two keys are accepted (`API_KEY`,
`OTHER_KEY`), each seeing only its own tasks.
It fetches every image URL it is given, as a gateway does, and refuses what is not an image.
Magic prompts: "[fail]", "[rai]", "[slow]", "[429]" (first submit of that prompt, Retry-After 1),
"[nourl]" (succeeds without a URL), "[expire]" (Shape D `expired`).
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

API_KEY = "sk-gateway-test"
OTHER_KEY = "sk-gateway-other-user"
STANDALONE_HINT = (
    f"GATEWAY_API_KEY={API_KEY} GATEWAY_BASE_URL=<the address above> GATEWAY_DIALECT=images"
)
IMAGES_MODELS = {
    "veo-2.0-generate-001": ("5", "6", "7", "8"),
    "veo-3.0-fast-generate-001": ("4", "6", "8"),
    "veo-3.0-generate-001": ("4", "6", "8"),
    "veo-3.1-fast-generate-preview": ("4", "6", "8"),
    "veo-3.1-generate-preview": ("4", "6", "8"),
}
VEO31_MODELS = {
    f"veo3.1-{kind}-{res}" for kind in ("video", "fast-video") for res in ("720p", "1080p", "4k")
}


@dataclass
class FakeTask:
    id: str
    body: dict[str, Any]
    started: float
    run_s: float
    owner: str = API_KEY


def _task_error(status: int, code: str, message: str) -> web.Response:
    return json_response({"code": code, "message": message, "data": None}, status)


def _openai_error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    return json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status
    )


class GatewayFake(FakeProvider):
    family = "gateway"

    def __init__(
        self,
        *,
        dialect: str = "images",
        shape: str = "A",
        result: str = "proxy",
        credits: int = 1_000,
        missing_routes: tuple[str, ...] = (),
        unlisted: tuple[str, ...] = (),
        shape_d_url: bool = False,
        content_not_ready: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.unlisted = unlisted  # models `GET /v1/models` leaves out (gone upstream)
        self.shape_d_url = shape_d_url
        self.content_not_ready = content_not_ready
        # "generations" and/or "videos": status routes this gateway does not serve.
        self.missing_routes = missing_routes
        self.dialect, self.shape, self.result, self.credits = dialect, shape, result, credits
        self.tasks: dict[str, FakeTask] = {}
        self.fetched_images: list[bytes] = []
        self.cdn_saw_authorization = False
        self._throttled: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/video/generations", self._create),
            web.get("/v1/video/generations/{id}", self._generation),
            web.get("/v1/videos/{id}", self._video),
            web.get("/v1/videos/{id}/content", self._content),
            web.get("/cdn/{id}.mp4", self._cdn),
            web.get("/v1/models", self._models),
        ]

    async def _models(self, request: web.Request) -> web.StreamResponse:
        """new-api's OpenAI-style `GET /v1/models`: the models this token may use."""
        if bearer(request) != API_KEY:
            return _openai_error(401, "Invalid token", "invalid_request_error")
        names = sorted(IMAGES_MODELS if self.dialect == "images" else VEO31_MODELS)
        names = [name for name in names if name not in self.unlisted]
        data = [{"id": name, "object": "model", "owned_by": "custom"} for name in names]
        return json_response({"object": "list", "data": data, "success": True})

    async def _image(self, value: Any) -> str | None:
        """Fetch or decode an image reference; the problem in words, or None when fine."""
        if not isinstance(value, str):
            return "must be a URL"
        if value.startswith("data:"):
            try:
                data = base64.b64decode(value.partition(",")[2], validate=True)
            except binascii.Error:
                return "is not valid base64"
        elif value.startswith(("http://", "https://")):
            async with aiohttp.ClientSession() as session, session.get(value) as response:
                if response.status != 200:
                    return f"could not be fetched ({response.status})"
                data = await response.read()
        else:
            return "must be a URL"
        if sniff_image_mime(data) is None:
            return "is not a PNG, JPEG or WebP image"
        self.fetched_images.append(data)
        return None

    async def _problems(self, body: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        model, prompt = body.get("model"), body.get("prompt")
        if not isinstance(prompt, str) or not prompt or len(prompt) > 5000:
            problems.append("prompt is required (at most 5000 characters)")
        if self.dialect == "images":
            if model not in IMAGES_MODELS:
                return [*problems, f"model {model!r} is not available"]
            if body.get("aspect_ratio") not in ("16:9", "9:16"):
                problems.append("aspect_ratio is required: 16:9 or 9:16")
            seconds = body.get("seconds", "8")
            if seconds not in IMAGES_MODELS[model]:
                problems.append(f"seconds must be one of {IMAGES_MODELS[model]} as a string")
            if body.get("images") and "3.1" in model and seconds != "8":
                problems.append("seconds is fixed to 8 with images on Veo 3.1")
            if body.get("size", "720p") not in ("720p", "1080p", "4k"):
                problems.append("size must be 720p, 1080p or 4k")
            images = body.get("images", [])
        else:
            if model not in VEO31_MODELS:
                return [*problems, f"model {model!r} is not available"]
            if "video" not in body:
                if body.get("aspect_ratio") not in ("16:9", "9:16"):
                    problems.append("aspect_ratio must be 16:9 or 9:16")
                if body.get("duration") not in (4, 6, 8):
                    problems.append("duration must be 4, 6 or 8")
            if "last_image" in body and "image" not in body:
                problems.append("last_image needs image")
            refs = body.get("images", [])
            if refs and ("fast" in model or not 2 <= len(refs) <= 3):
                problems.append("images takes 2 or 3 references, not on fast models")
            if not isinstance(body.get("extra_body", {}), dict):
                problems.append("extra_body must be an object")
            images = [body[k] for k in ("image", "last_image") if k in body] + list(refs)
        for image in images:
            problem = await self._image(image)
            if problem:
                problems.append(f"image {problem}")
        return problems

    async def _create(self, request: web.Request) -> web.Response:
        owner = bearer(request)
        if owner not in (API_KEY, OTHER_KEY):
            return _openai_error(401, "Invalid token", "invalid_request_error")
        try:
            body = await request.json()
        except ValueError:
            return _openai_error(400, "invalid JSON", "invalid_request_error")
        problems = await self._problems(body) if isinstance(body, dict) else ["not an object"]
        if problems:
            return _openai_error(400, "; ".join(problems), "invalid_request_error")
        prompt = body["prompt"]
        if "[429]" in prompt and prompt not in self._throttled:
            self._throttled.add(prompt)
            return web.json_response(
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                status=429,
                headers={"Retry-After": "1"},
            )
        if self.credits <= 0:
            return _openai_error(
                403, "user quota is not enough (insufficient quota)", "new_api_error"
            )
        self.credits -= 1
        task_id = "task_" + secrets.token_hex(12)
        run_s = self.job_duration_s * (100 if "[slow]" in prompt else 1)
        self.tasks[task_id] = FakeTask(task_id, body, self.clock(), run_s, owner)
        return json_response(
            {
                "id": task_id,
                "task_id": task_id,
                "object": "video",
                "model": body["model"],
                "status": "queued",
                "progress": 0,
                "created_at": 1775116001,
            }
        )

    def _state(self, task: FakeTask) -> tuple[str, int]:
        """(simple state, progress): queued, running, done, failed, rai, nourl, expired."""
        elapsed = self.clock() - task.started
        if elapsed < task.run_s / 3:
            return "queued", 0
        if elapsed < task.run_s:
            return "running", min(99, int(100 * elapsed / task.run_s))
        prompt = task.body["prompt"]
        for magic in ("fail", "rai", "nourl", "expire"):
            if f"[{magic}]" in prompt:
                return magic, 100
        return "done", 100

    def _result_url(self, task: FakeTask) -> str:
        if self.result == "data":
            return "data:video/mp4;base64," + base64.b64encode(self.video).decode()
        if self.result == "cdn":
            return f"http://localhost:{self.port}/cdn/{task.id}.mp4"
        return f"{self.base_url}/v1/videos/{task.id}/content"

    def _find(self, request: web.Request) -> FakeTask | web.Response:
        if bearer(request) not in (API_KEY, OTHER_KEY):
            return _openai_error(401, "Invalid token", "invalid_request_error")
        task = self.tasks.get(request.match_info["id"])
        if task is None or task.owner != bearer(request):
            return _task_error(400, "task_not_exist", "task_not_exist")
        return task

    def _missing(self, request: web.Request, route: str) -> web.Response | None:
        if route not in self.missing_routes:
            return None
        message = f"Invalid URL (GET {request.path})"
        return _openai_error(404, message, "invalid_request_error")

    async def _generation(self, request: web.Request) -> web.Response:
        if missing := self._missing(request, "generations"):
            return missing
        task = self._find(request)
        if isinstance(task, web.Response):
            return task
        state, progress = self._state(task)
        if self.shape == "D":
            return self._shape_d(task, state, progress)
        url = self._result_url(task) if state == "done" else None
        reason = {"fail": "upstream generation failed", "rai": "blocked by safety policy (RAI)"}
        if self.shape == "A":
            words = {
                "queued": "queued",
                "running": "in_progress",
                "done": "completed",
                "nourl": "completed",
                "expire": "completed",
            }
            status = words.get(state, "failed")
            error = {"code": 1, "message": reason[state]} if state in reason else None
            return json_response(
                {
                    "task_id": task.id,
                    "status": status,
                    "url": url,
                    "format": "mp4",
                    "metadata": {"seed": 1},
                    "error": error,
                }
            )
        if self.shape == "B":
            words = {
                "queued": "queued",
                "running": "processing",
                "done": "succeeded",
                "nourl": "succeeded",
                "expire": "succeeded",
            }
            data = {
                "task_id": task.id,
                "status": words.get(state, "failed"),
                "url": url,
                "format": "mp4",
                "metadata": None,
                "error": reason.get(state),
            }
            return json_response({"code": "success", "message": "", "data": data})
        words = {
            "queued": "QUEUED",
            "running": "IN_PROGRESS",
            "done": "SUCCESS",
            "nourl": "SUCCESS",
            "expire": "SUCCESS",
        }
        dto: dict[str, Any] = {
            "id": 1,
            "task_id": task.id,
            "status": words.get(state, "FAILURE"),
            "fail_reason": reason.get(state, ""),
            "result_url": url or "",
            "progress": f"{progress}%",
            "properties": {},
            "data": {},
        }
        return json_response({"code": "success", "message": "", "data": dto})

    def _shape_d(self, task: FakeTask, state: str, progress: int) -> web.Response:
        words = {
            "queued": "queued",
            "running": "in_progress",
            "done": "completed",
            "nourl": "completed",
            "expire": "expired",
        }
        body: dict[str, Any] = {
            "id": task.id,
            "object": "video",
            "model": task.body["model"],
            "status": words.get(state, "failed"),
            "progress": progress,
            "created_at": 1775116001,
            "error": None,
        }
        if state in ("fail", "rai"):
            body["error"] = {
                "code": "generation_failed",
                "message": "blocked by safety policy" if state == "rai" else "failed",
            }
        if state == "done" and self.shape_d_url:
            body["metadata"] = {"url": self._result_url(task)}
        return json_response(body)

    async def _video(self, request: web.Request) -> web.Response:
        if missing := self._missing(request, "videos"):
            return missing
        task = self._find(request)
        if isinstance(task, web.Response):
            return task
        return self._shape_d(task, *self._state(task))

    async def _content(self, request: web.Request) -> web.Response:
        """new-api's `VideoProxy`: TokenOrUserAuth (a bare key works too), then the task is
        looked up by (caller, task id), then it must have succeeded."""
        header = request.headers.get("Authorization", "")
        key = header.removeprefix("Bearer ")
        if key not in (API_KEY, OTHER_KEY):
            return _openai_error(401, "Invalid token", "new_api_error")
        task = self.tasks.get(request.match_info["id"])
        if task is None or task.owner != key:
            return _openai_error(404, "Task not found", "invalid_request_error")
        state, _ = self._state(task)
        # new-api's task status words (model.TaskStatus*), not the video object's.
        status = {"queued": "QUEUED", "running": "IN_PROGRESS"}.get(state, "FAILURE")
        if state in ("done", "nourl") and self.content_not_ready > 0:
            self.content_not_ready -= 1
            status = "IN_PROGRESS"
        elif state in ("done", "nourl"):
            return web.Response(body=self.video, content_type="video/mp4")
        return _openai_error(
            400, f"Task is not completed yet, current status: {status}", "invalid_request_error"
        )

    async def _cdn(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.cdn_saw_authorization = True
        if request.match_info["id"] not in self.tasks:
            return web.Response(status=404)
        return web.Response(body=self.video, content_type="video/mp4")


def create(**options: Any) -> GatewayFake:
    return GatewayFake(**options)
