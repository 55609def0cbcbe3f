"""A fake of useapi.net's LTX Studio API, as its documentation and examples describe it: asset
upload, `veo-create` and `ltx-create` validated per model, the job model at `GET /assets/{jobId}`
(raw or percent-encoded), `pollForResult`, unsigned `replyUrl` callbacks, credits (402),
`maxJobs` (429) and the running jobs at `GET /scheduler`.

Options: `tokens` (the accepted bearer tokens), `accounts` (several make `email` required),
`credits`, `max_jobs`, `completed_without_url_polls` (readings of "completed" with no assetUrl
before the URL shows), `result_ttl_s` (signed result URLs answer 403 once expired; a fresh GET
signs a new one), `duplicate_callbacks`. Results come from a second origin (`localhost`, like
Google storage), which records any Authorization header it sees. `expire_job(job_id)` makes a
job 404. Magic prompts: "[fail]", "[rai]" (moderation), "[slow]" (100x longer), "[429]" (the
first create with that prompt answers 429 with Retry-After: 1).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from tests.fakes._base import FakeProvider, bearer, json_response

TOKEN = "user:1-test"
STANDALONE_HINT = (
    f"USEAPI_TOKEN={TOKEN} USEAPI_BASE_URL=<the address above>; one account, so no USEAPI_EMAIL"
)
API = "/v1/ltxstudio"
VEO_RULES: dict[str, dict[str, Any]] = {
    "veo2": {
        "durations": ("5", "6", "7", "8"),
        "aspects": ("16:9", "9:16", "1:1"),
        "resolutions": (),
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
LTX_DURATIONS = ("3", "5", "7", "9", "15", "30")
ASPECTS = ("16:9", "9:16", "1:1")
INTENSITIES = ("low", "medium", "high")
POLL_ATTEMPT_S = 3.0  # each pollForResult attempt waits 3 s


@dataclass
class FakeJob:
    id: str
    account: str
    body: dict[str, Any]
    started: float
    run_s: float
    completed_readings: int = 0
    expired: bool = False
    result_token: str = ""
    signed_at: float = 0.0
    callbacks: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = json_response({"error": message, "code": status}, status)
    response.headers.update(headers or {})
    return response


class UseapiFake(FakeProvider):
    family = "useapi"

    def __init__(
        self,
        *,
        tokens: Collection[str] = (TOKEN,),
        accounts: tuple[str, ...] = ("ltx@example.com",),
        credits: int = 1_000,
        max_jobs: int = 20,
        completed_without_url_polls: int = 0,
        result_ttl_s: float = 3600.0,
        duplicate_callbacks: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.tokens = frozenset(tokens)
        self.accounts, self.credits, self.max_jobs = accounts, credits, max_jobs
        self.completed_without_url_polls = completed_without_url_polls
        self.result_ttl_s = result_ttl_s
        self.duplicate_callbacks = duplicate_callbacks
        self.assets: dict[str, tuple[str, bytes]] = {}  # fileId -> (type, bytes)
        self.jobs: dict[str, FakeJob] = {}
        self.result_saw_authorization = False
        self.job_reads: list[str] = []  # raw paths of GET /assets/{jobId}, as the client sent them
        self._signed: dict[str, FakeJob] = {}  # result token -> its job
        self._throttled: set[str] = set()  # "[429]" prompts already answered 429 once
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/assets/", self._upload),
            web.post(f"{API}/videos/veo-create", self._veo_create),
            web.post(f"{API}/videos/ltx-create", self._ltx_create),
            web.get(f"{API}/scheduler", self._scheduler),
            web.get(API + "/assets/{job_id:.+}", self._job),
            web.get("/results/{token}.mp4", self._result),
            web.get("/v2/account", self._account_info),
        ]

    async def _account_info(self, request: web.Request) -> web.StreamResponse:
        """`GET /v2/account`, useapi's token check (its fields as third parties show them)."""
        if bearer(request) not in self.tokens:
            return _error(401, "Unauthorized")
        return json_response(
            {
                "sub": "2027-01-31",
                "subscriptionIsActive": self.credits > 0,
                "accounts": {"LTX Studio API": {"total": len(self.accounts), "active": 0}},
            }
        )

    def expire_job(self, job_id: str) -> None:
        self.jobs[job_id].expired = True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().close()

    def _account(self, request: web.Request, body: dict[str, Any]) -> web.Response | str:
        if bearer(request) not in self.tokens:
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
        # 20 MB is Luma's cap on the same vendor; LTX's own is undocumented.
        if not data or len(data) > 20 * 1024 * 1024:
            return _error(400, "File is empty or too large")
        file_id = f"asset:{secrets.token_hex(8)}-type:{mime}"
        self.assets[file_id] = (kind, data)
        return json_response(
            {
                "assetUrl": f"https://storage.example/user-uploads/{secrets.token_hex(4)}",
                "expirationDateString": str(int((time.time() + 3600) * 1000)),
                "asset": {"type": kind, "fileId": file_id, "mimeType": mime},
            }
        )

    def _common(self, body: dict[str, Any]) -> list[str]:
        problems = []
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt or len(prompt) > 2000:
            problems.append("prompt is required (max 2000 characters)")
        if "seed" in body and not isinstance(body["seed"], int):
            problems.append("seed must be an integer")
        if "audioSFX" in body and not isinstance(body["audioSFX"], bool):
            problems.append("audioSFX must be a boolean")
        polls = body.get("pollForResult")
        if polls is not None and (not isinstance(polls, int) or not 1 <= polls <= 20):
            problems.append("pollForResult must be between 1 and 20")
        return problems

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
        rules = VEO_RULES.get(model) if isinstance(model, str) else None
        if rules is None:
            return _error(400, f"model must be one of {', '.join(VEO_RULES)}")
        if str(body.get("duration", rules["durations"][0])) not in rules["durations"]:
            problems.append(f"duration must be one of {', '.join(rules['durations'])}")
        if body.get("aspectRatio", "16:9") not in rules["aspects"]:
            problems.append(f"aspectRatio must be one of {', '.join(rules['aspects'])}")
        if "resolution" in body and body["resolution"] not in rules["resolutions"]:
            problems.append(f"resolution is not supported for {model}")
        if "startAssetId" in body:
            problem = self._asset(body["startAssetId"], "reference-image")
            problems += [problem] if problem else []
        elif rules["start_required"]:
            problems.append("startAssetId is required")
        return await self._start(problems, body, account)

    async def _ltx_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        account = self._account(request, body)
        if isinstance(account, web.Response):
            return account
        if "startAssetId" not in body and "endAssetId" not in body:
            # useapi's documented answer, verbatim.
            return _error(400, "startAssetId or endAssetId is required")
        problems = self._common(body)
        if body.setdefault("model", "ltxv-turbo") not in ("ltxv", "ltxv-turbo"):
            problems.append("model must be ltxv or ltxv-turbo")
        if str(body.get("duration", "3")) not in LTX_DURATIONS:
            problems.append(f"duration must be one of {', '.join(LTX_DURATIONS)}")
        if body.get("aspectRatio", "16:9") not in ASPECTS:
            problems.append(f"aspectRatio must be one of {', '.join(ASPECTS)}")
        if body.get("intensity", "medium") not in INTENSITIES:
            problems.append("intensity must be low, medium or high")
        for key in ("startAssetId", "endAssetId"):
            if key in body and (problem := self._asset(body[key], "image")):
                problems.append(problem)
        return await self._start(problems, body, account)

    async def _start(self, problems: list[str], body: dict[str, Any], account: str) -> web.Response:
        if problems:
            return _error(400, "; ".join(problems))
        prompt: str = body["prompt"]
        if "[429]" in prompt and prompt not in self._throttled:
            self._throttled.add(prompt)
            return _error(429, "Too many requests", {"Retry-After": "1"})
        running = sum(1 for j in self.jobs.values() if j.account == account and self._active(j))
        if running >= int(body.get("maxJobs", self.max_jobs)):
            return _error(
                429, "All configured accounts are running maximum jobs", {"Retry-After": "5"}
            )
        if self.credits <= 0:
            return _error(402, "Insufficient credits")
        self.credits -= 1
        job_id = f"email:{account}:{secrets.token_hex(16)}-type:video"
        run_s = self.job_duration_s * (100 if "[slow]" in prompt else 1)
        job = FakeJob(job_id, account, body, self.clock(), run_s)
        self.jobs[job_id] = job
        if body.get("replyUrl"):
            task = asyncio.create_task(self._call_back(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if body.get("pollForResult"):
            done = await self._wait_for_result(job, int(body["pollForResult"]))
            if done is not None:
                return json_response({**done, "code": 200})
        # The doc leaves the status unlabelled; useapi answers 201 for queued jobs elsewhere.
        return json_response({"jobId": job_id, "generationId": f"gen_{secrets.token_hex(6)}"}, 201)

    async def _wait_for_result(self, job: FakeJob, attempts: int) -> dict[str, Any] | None:
        """`pollForResult`: wait up to `attempts` x 3 s of the fake's clock for the end, but
        never longer in real time than twice a normal job, so a still clock cannot hang it."""
        clock_start, real_start = self.clock(), time.monotonic()
        while (
            self.clock() - clock_start < attempts * POLL_ATTEMPT_S
            and time.monotonic() - real_start < 2 * self.job_duration_s
        ):
            model = self._reading(job)
            if model["status"]["type"] == "failed" or "artifact" in model["status"]:
                return model
            await asyncio.sleep(self.job_duration_s / 10)
        return None

    def _active(self, job: FakeJob) -> bool:
        return self.clock() - job.started < job.run_s

    def _sign(self, job: FakeJob) -> None:
        """A signed result URL, re-signed on a reading once the old one has expired."""
        if job.result_token and self.clock() - job.signed_at <= self.result_ttl_s:
            return
        job.result_token, job.signed_at = secrets.token_hex(8), self.clock()
        self._signed[job.result_token] = job

    def model_of(self, job: FakeJob) -> dict[str, Any]:
        elapsed = self.clock() - job.started
        prompt: str = job.body["prompt"]
        status: dict[str, Any]
        if self._active(job):
            status = {"type": "active", "progress": min(99, int(100 * elapsed / job.run_s))}
        elif "[fail]" in prompt:
            status = {"type": "failed", "message": "Generation failed"}
        elif "[rai]" in prompt:
            status = {"type": "failed", "message": "Content moderation: prompt rejected"}
        else:
            status = {"type": "completed", "progress": 100}
            if job.completed_readings >= self.completed_without_url_polls:
                self._sign(job)
                # Wall-clock epoch ms, as the real API sends, of the moment the fake expires it.
                expires_at = time.time() + job.signed_at + self.result_ttl_s - self.clock()
                status["artifact"] = {
                    "assetUrl": f"http://localhost:{self.port}/results/{job.result_token}.mp4",
                    "expirationDateString": str(int(expires_at * 1000)),
                    "asset": {
                        "type": "artifact",
                        "fileId": f"asset:{job.result_token}-type:video/mp4",
                        "mimeType": "video/mp4",
                        "artifactSubtype": (
                            "vertex-ai" if job.body["model"].startswith("veo") else "model-serving"
                        ),
                    },
                }
        model: dict[str, Any] = {"status": status, "jobId": job.id}
        for key in ("replyUrl", "replyRef"):
            if key in job.body:
                model[key] = job.body[key]
        return model

    def _reading(self, job: FakeJob) -> dict[str, Any]:
        """The job model as a client reads it; counts the readings of "completed"."""
        model = self.model_of(job)
        if model["status"]["type"] == "completed":
            job.completed_readings += 1
        return model

    async def _job(self, request: web.Request) -> web.Response:
        if bearer(request) not in self.tokens:
            return _error(401, "Unauthorized")
        self.job_reads.append(request.raw_path)
        # aiohttp decodes the path once; unquote again for a client that encoded it twice.
        job = self.jobs.get(unquote(request.match_info["job_id"]))
        if job is None or job.expired:
            return _error(404, "Job not found or has expired.")
        return json_response(self._reading(job))

    async def _result(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.result_saw_authorization = True
        job = self._signed.get(request.match_info["token"])
        if job is None:
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        if self.clock() - job.signed_at > self.result_ttl_s:
            # What Google storage answers for an expired signed URL.
            return web.Response(status=403, text="<Error><Code>ExpiredToken</Code></Error>")
        return web.Response(body=self.video, content_type="video/mp4")

    async def _scheduler(self, request: web.Request) -> web.Response:
        if bearer(request) not in self.tokens:
            return _error(401, "Unauthorized")
        running = []
        for job in self.jobs.values():
            if not self._active(job):
                continue
            elapsed = self.clock() - job.started
            started = datetime.fromtimestamp(time.time() - elapsed, UTC)
            running.append(
                {
                    "jobId": job.id,
                    "email": job.account,
                    "started": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "elapsed": f"{int(elapsed // 60):02d}:{int(elapsed % 60):02d}",
                    "replyUrl": job.body.get("replyUrl"),
                    "replyRef": job.body.get("replyRef"),
                }
            )
        return json_response(running)

    async def _call_back(self, job: FakeJob) -> None:
        """POST the job model to replyUrl once it ends, unsigned, as useapi does."""
        while self._active(job):  # noqa: ASYNC110 - jobs end on the fake's clock, not an event
            await asyncio.sleep(job.run_s / 10)
        payload = self.model_of(job)
        async with aiohttp.ClientSession() as session:
            for _ in range(2 if self.duplicate_callbacks else 1):
                try:
                    async with session.post(job.body["replyUrl"], json=payload) as answer:
                        status = answer.status
                except aiohttp.ClientError:
                    status = 0  # unreachable receiver; useapi's retry policy is undocumented
                job.callbacks.append((status, payload))


def create(**options: Any) -> UseapiFake:
    return UseapiFake(**options)
