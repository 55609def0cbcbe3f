"""A fake of useapi.net's LTX Studio API (seeds 000 and 001, PROVIDERS.md §1): asset upload,
`veo-create` and `ltx-create` validated per model, the job model at `GET /assets/{jobId}`
(raw or percent-encoded), unsigned `replyUrl` callbacks, credits (402) and `maxJobs` (429).

Options: `accounts` (several make `email` required), `credits`, `max_jobs`,
`completed_without_url_polls` (readings of "completed" with no assetUrl before the URL shows),
`result_ttl_s` (signed result URLs answer 403 once expired; a fresh GET signs a new one),
`duplicate_callbacks`. Results come from a second origin (`localhost`, like Google storage),
which records any Authorization header it sees. `expire_job(job_id)` makes a job 404.
Magic prompts: "[fail]", "[rai]" (moderation), "[slow]".
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from tests.fakes._base import FakeProvider, bearer, json_response

TOKEN = "user:1234-abcdEFGH"
STANDALONE_HINT = f"USEAPI_TOKEN={TOKEN} USEAPI_BASE_URL=<the address above>"
API = "/v1/ltxstudio"
VEO_RULES: dict[str, dict[str, Any]] = {
    "veo2": {
        "durations": ("5", "6", "7", "8"),
        "aspects": ("16:9", "9:16", "1:1"),
        "resolutions": None,
        "start_required": True,
    },
    "veo3": {
        "durations": ("8",),
        "aspects": ("16:9",),
        "resolutions": ("720p", "1080p"),
        "start_required": False,
    },
    "veo3-fast": {
        "durations": ("8",),
        "aspects": ("16:9",),
        "resolutions": ("720p", "1080p"),
        "start_required": False,
    },
}


@dataclass
class FakeJob:
    id: str
    body: dict[str, Any]
    started: float
    run_s: float
    polls_done: int = 0
    expired: bool = False
    signed_at: float = 0.0
    callbacks: list[int] = field(default_factory=list)


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message, "code": status}, status)


class UseapiFake(FakeProvider):
    family = "useapi"

    def __init__(
        self,
        *,
        accounts: tuple[str, ...] = ("ltx@example.com",),
        credits: int = 1_000,
        max_jobs: int = 20,
        completed_without_url_polls: int = 0,
        result_ttl_s: float = 3600.0,
        duplicate_callbacks: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.accounts, self.credits, self.max_jobs = accounts, credits, max_jobs
        self.completed_without_url_polls = completed_without_url_polls
        self.result_ttl_s = result_ttl_s
        self.duplicate_callbacks = duplicate_callbacks
        self.assets: dict[str, tuple[str, bytes]] = {}  # fileId -> (type, bytes)
        self.jobs: dict[str, FakeJob] = {}
        self.result_saw_authorization = False
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/assets/", self._upload),
            web.post(f"{API}/videos/veo-create", self._veo_create),
            web.post(f"{API}/videos/ltx-create", self._ltx_create),
            web.get(f"{API}/scheduler", self._scheduler),
            web.get(API + "/assets/{job_id:.+}", self._job),
            web.get("/results/{token}.mp4", self._result),
        ]

    def expire_job(self, job_id: str) -> None:
        self.jobs[job_id].expired = True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().close()

    def _account(self, request: web.Request, body: dict[str, Any]) -> web.Response | str:
        if bearer(request) != TOKEN:
            return _error(401, "Unauthorized")
        email = body.get("email") or request.query.get("email")
        if email is None:
            if len(self.accounts) > 1:
                return _error(400, "email is required when several accounts are configured")
            return self.accounts[0]
        if email not in self.accounts:
            return _error(400, f"Unknown account {email}")
        return str(email)

    async def _upload(self, request: web.Request) -> web.Response:
        account = self._account(request, {})
        if isinstance(account, web.Response):
            return account
        mime = request.headers.get("Content-Type", "")
        if not mime.startswith("image/"):
            return _error(400, "Content-Type header with the file's MIME type is required")
        kind = request.query.get("type", "image")
        if kind not in ("image", "reference-image"):
            return _error(400, f"Unsupported type {kind}")
        data = await request.read()
        if not data or len(data) > 20 * 1024 * 1024:
            return _error(400, "File is empty or too large")
        file_id = f"asset:{secrets.token_hex(8)}-type:{mime}"
        self.assets[file_id] = (kind, data)
        return json_response(
            {
                "assetUrl": f"https://storage.example/user-uploads/{secrets.token_hex(4)}",
                "expirationDateString": "1748919477350",
                "asset": {"type": kind, "fileId": file_id, "mimeType": mime},
            }
        )

    async def _start(
        self, request: web.Request, problems: list[str], body: dict[str, Any], account: str
    ) -> web.Response:
        if problems:
            return _error(400, "; ".join(problems))
        running = sum(1 for j in self.jobs.values() if self._state(j)[0] == "active")
        if running >= int(body.get("maxJobs", self.max_jobs)):
            return _error(429, "All configured accounts are running maximum jobs")
        if self.credits <= 0:
            return _error(402, "Insufficient credits")
        self.credits -= 1
        job_id = f"email:{account}:{secrets.token_hex(16)}-type:video"
        run_s = self.job_duration_s * (100 if "[slow]" in body["prompt"] else 1)
        job = FakeJob(job_id, body, self.clock(), run_s, signed_at=self.clock())
        self.jobs[job_id] = job
        if body.get("replyUrl"):
            task = asyncio.create_task(self._call_back(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return json_response({"jobId": job_id, "generationId": f"gen_{secrets.token_hex(6)}"})

    def _common(self, body: dict[str, Any]) -> list[str]:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt or len(prompt) > 2000:
            return ["prompt is required (max 2000 characters)"]
        if "seed" in body and not isinstance(body["seed"], int):
            return ["seed must be an integer"]
        return []

    def _asset(self, file_id: Any, wanted: str) -> str | None:
        found = self.assets.get(str(file_id))
        if found is None:
            return f"unknown asset {file_id}"
        if found[0] != wanted:
            return f"asset {file_id} has the wrong format for this endpoint (upload as {wanted})"
        return None

    async def _veo_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        account = self._account(request, body)
        if isinstance(account, web.Response):
            return account
        problems = self._common(body)
        model = body.setdefault("model", "veo2")
        rules = VEO_RULES.get(model)
        if rules is None:
            return _error(400, f"model must be one of {', '.join(VEO_RULES)}")
        if str(body.get("duration", rules["durations"][0])) not in rules["durations"]:
            problems.append(f"duration must be one of {rules['durations']}")
        if body.get("aspectRatio", "16:9") not in rules["aspects"]:
            problems.append(f"aspectRatio must be one of {rules['aspects']}")
        if "resolution" in body and body["resolution"] not in (rules["resolutions"] or ()):
            problems.append(f"resolution is not supported for {model}")
        if "startAssetId" in body:
            problem = self._asset(body["startAssetId"], "reference-image")
            problems += [problem] if problem else []
        elif rules["start_required"]:
            problems.append("startAssetId is required")
        return await self._start(request, problems, body, account)

    async def _ltx_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        account = self._account(request, body)
        if isinstance(account, web.Response):
            return account
        problems = self._common(body)
        if "startAssetId" not in body and "endAssetId" not in body:
            return _error(400, "startAssetId or endAssetId is required")
        if body.setdefault("model", "ltxv-turbo") not in ("ltxv", "ltxv-turbo"):
            problems.append("model must be ltxv or ltxv-turbo")
        if str(body.get("duration", "3")) not in ("3", "5", "7", "9", "15", "30"):
            problems.append("duration must be one of 3, 5, 7, 9, 15, 30")
        if body.get("aspectRatio", "16:9") not in ("16:9", "9:16", "1:1"):
            problems.append("aspectRatio must be 16:9, 9:16 or 1:1")
        if body.get("intensity", "medium") not in ("low", "medium", "high"):
            problems.append("intensity must be low, medium or high")
        for key in ("startAssetId", "endAssetId"):
            if key in body and (problem := self._asset(body[key], "image")):
                problems.append(problem)
        return await self._start(request, problems, body, account)

    def _state(self, job: FakeJob) -> tuple[str, int]:
        elapsed = self.clock() - job.started
        if elapsed < job.run_s:
            return "active", min(99, int(100 * elapsed / job.run_s))
        if "[fail]" in job.body["prompt"]:
            return "failed", 0
        if "[rai]" in job.body["prompt"]:
            return "moderated", 0
        return "completed", 100

    def model_of(self, job: FakeJob) -> dict[str, Any]:
        state, progress = self._state(job)
        status: dict[str, Any] = {"type": "active", "progress": progress}
        if state == "failed":
            status = {"type": "failed", "message": "Generation failed"}
        elif state == "moderated":
            status = {"type": "failed", "message": "Content moderation: prompt rejected"}
        elif state == "completed":
            status = {"type": "completed", "progress": 100}
            if job.polls_done >= self.completed_without_url_polls:
                if self.clock() - job.signed_at > self.result_ttl_s:
                    job.signed_at = self.clock()  # a fresh GET signs a fresh URL
                token = f"{self.jobs_index(job)}-{int(job.signed_at * 1000)}"
                status["artifact"] = {
                    "assetUrl": f"http://localhost:{self.port}/results/{token}.mp4",
                    "expirationDateString": str(int((job.signed_at + self.result_ttl_s) * 1000)),
                    "asset": {
                        "type": "artifact",
                        "fileId": "asset:x-type:video/mp4",
                        "mimeType": "video/mp4",
                        "artifactSubtype": "vertex-ai",
                    },
                }
        model: dict[str, Any] = {"status": status, "jobId": job.id}
        for key in ("replyUrl", "replyRef"):
            if key in job.body:
                model[key] = job.body[key]
        return model

    def jobs_index(self, job: FakeJob) -> int:
        return list(self.jobs).index(job.id)

    async def _job(self, request: web.Request) -> web.Response:
        if bearer(request) != TOKEN:
            return _error(401, "Unauthorized")
        job = self.jobs.get(unquote(request.match_info["job_id"]))
        if job is None or job.expired:
            return _error(404, "Job not found or has expired.")
        model = self.model_of(job)
        if model["status"]["type"] == "completed":
            job.polls_done += 1
        return json_response(model)

    async def _result(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.result_saw_authorization = True
        index, _, signed_ms = request.match_info["token"].partition("-")
        jobs = list(self.jobs.values())
        if not index.isdigit() or int(index) >= len(jobs):
            return web.Response(status=404)
        if self.clock() - int(signed_ms) / 1000 > self.result_ttl_s:
            return web.Response(status=403, text="<Error>ExpiredToken</Error>")
        return web.Response(body=self.video, content_type="video/mp4")

    async def _scheduler(self, request: web.Request) -> web.Response:
        if bearer(request) != TOKEN:
            return _error(401, "Unauthorized")
        return json_response(
            [
                {"jobId": j.id, "replyRef": j.body.get("replyRef")}
                for j in self.jobs.values()
                if self._state(j)[0] == "active"
            ]
        )

    async def _call_back(self, job: FakeJob) -> None:
        """POST the job model to replyUrl once it ends, unsigned, as useapi does."""
        await asyncio.sleep(job.run_s)
        times = 2 if self.duplicate_callbacks else 1
        async with aiohttp.ClientSession() as session:
            for _ in range(times):
                async with session.post(job.body["replyUrl"], json=self.model_of(job)) as answer:
                    job.callbacks.append(answer.status)


def create(**options: Any) -> UseapiFake:
    return UseapiFake(**options)
