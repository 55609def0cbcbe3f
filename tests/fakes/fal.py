"""A fake fal.ai queue for the Veo 3.1 endpoints (docs/providers.md §3), as strict as fal's
own validation: `POST /{endpoint}` queues a request and answers its status, result and cancel
URLs (on `{owner}/{alias}`, without the endpoint's sub-path), `GET …/status` reads it
(`IN_QUEUE` with `queue_position`, `IN_PROGRESS`, `COMPLETED`, `logs` always present), `GET
…/requests/{id}` gives the output, `PUT …/cancel` stops it. Each endpoint takes exactly its
documented fields (others: 422), fetches every image and video URL it is given, and refuses
what is not an image or an MP4.

Webhooks: with `?fal_webhook=` the fake POSTs `{request_id, gateway_request_id, status,
payload}` when a request ends, signed as fal signs (Ed25519 over `request id \\n user id \\n
timestamp \\n hex(sha256(body))`), with its own generated key, whose public half it serves as
a JWKS at `/.well-known/jwks.json`.

Magic prompts: "[fail]" ends the run with an error in its status, "[rai]" has the result
refused by the content checker (422 `content_policy_violation`), "[nourl]" returns no video,
"[slow]" runs 100x longer.

Options: `queue_ahead` (jobs ahead of each new request when it is queued; the position
counts down); `forge_webhooks` signs with a key the JWKS does not hold; `webhook_skew_s`
shifts the signed timestamp; `foreign_urls` names request URLs on another host (`localhost`);
`file_ttl_s` expires output files (404); `balance` (requests that can still be paid for; 403
"Exhausted balance" after). `rotate_key()` starts signing with a new key and publishes it.
Results come from a second origin (`localhost`, fal's CDN), which records any Authorization.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.fakes._base import FakeProvider, json_response
from tests.fakes._media import read_image, read_video

API_KEY = "fal-test-key-id:fal-test-key-secret"
USER_ID = "fal-user-test"
JWKS_PATH = "/.well-known/jwks.json"
STANDALONE_HINT = (
    f"FAL_KEY={API_KEY} FAL_QUEUE_URL=<the address above> "
    f"FAL_JWKS_URL=<the address above>{JWKS_PATH}"
)

TIERS = {
    "fal-ai/veo3.1": ("720p", "1080p", "4k"),
    "fal-ai/veo3.1/fast": ("720p", "1080p", "4k"),
    "fal-ai/veo3.1/lite": ("720p", "1080p"),
}
DURATIONS = ("4s", "6s", "8s")
WIDE_TALL = ("16:9", "9:16")
AUTO_WIDE_TALL = ("auto", "16:9", "9:16")
SAFETY_TOLERANCES = ("1", "2", "3", "4", "5", "6")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's input schema: required fields, and the allowed values of enums."""

    required: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    durations: tuple[str, ...] = DURATIONS
    images: tuple[str, ...] = ()  # fields holding one image URL
    image_lists: tuple[str, ...] = ()  # fields holding a list of image URLs
    videos: tuple[str, ...] = ()

    @property
    def fields(self) -> set[str]:
        common = {
            "prompt",
            "aspect_ratio",
            "duration",
            "resolution",
            "negative_prompt",
            "generate_audio",
            "seed",
            "auto_fix",
            "safety_tolerance",
        }
        return common | set(self.images) | set(self.image_lists) | set(self.videos)


def _endpoints() -> dict[str, Endpoint]:
    table: dict[str, Endpoint] = {}
    for tier, resolutions in TIERS.items():
        table[tier] = Endpoint(("prompt",), WIDE_TALL, resolutions)
        table[f"{tier}/image-to-video"] = Endpoint(
            ("prompt", "image_url"), AUTO_WIDE_TALL, resolutions, images=("image_url",)
        )
        table[f"{tier}/first-last-frame-to-video"] = Endpoint(
            ("prompt", "first_frame_url", "last_frame_url"),
            AUTO_WIDE_TALL,
            resolutions,
            images=("first_frame_url", "last_frame_url"),
        )
        table[f"{tier}/extend-video"] = Endpoint(
            ("prompt", "video_url"),
            AUTO_WIDE_TALL,
            ("720p",),
            durations=("7s",),
            videos=("video_url",),
        )
    table["fal-ai/veo3.1/reference-to-video"] = Endpoint(
        ("prompt", "image_urls"), WIDE_TALL, TIERS["fal-ai/veo3.1"], image_lists=("image_urls",)
    )
    return table


ENDPOINTS = _endpoints()


@dataclass
class FalRequest:
    id: str
    app: str  # "{owner}/{alias}": where its status, result and cancel URLs live
    endpoint: str
    body: dict[str, Any]
    started: float
    run_s: float
    queue_ahead: int
    webhook: str | None
    cancelled_at: float | None = None
    charged: bool = False  # billed once it completed with a video
    webhooks: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    file_token: str = field(default_factory=lambda: secrets.token_hex(8))
    finished_at: float | None = None


def _problem(field_: str, message: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", field_], "msg": message, "type": kind}


def _validation(problems: list[dict[str, Any]]) -> web.Response:
    return json_response({"detail": problems}, 422)


def public_jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}


class FalFake(FakeProvider):
    family = "fal"

    def __init__(
        self,
        *,
        queue_ahead: int = 0,
        forge_webhooks: bool = False,
        webhook_skew_s: float = 0.0,
        foreign_urls: bool = False,
        file_ttl_s: float | None = None,
        balance: int = 1_000,
        wall: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.queue_ahead = queue_ahead
        self.forge_webhooks = forge_webhooks
        self.webhook_skew_s = webhook_skew_s
        self.foreign_urls = foreign_urls
        self.file_ttl_s = file_ttl_s
        self.balance = balance
        self.wall = wall
        self.requests_by_id: dict[str, FalRequest] = {}
        self.fetched: list[bytes] = []
        self.cdn_saw_authorization = False
        self.signing_key = Ed25519PrivateKey.generate()
        self.published: dict[str, Ed25519PrivateKey] = {"fal-key-1": self.signing_key}
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(JWKS_PATH, self._jwks),
            web.get("/files/{token}/{name}", self._file),
            web.get("/{owner}/{alias}/requests/{id}/status", self._status),
            web.get("/{owner}/{alias}/requests/{id}", self._result),
            web.put("/{owner}/{alias}/requests/{id}/cancel", self._cancel),
            web.post("/{endpoint:.+}", self._submit),
        ]

    def rotate_key(self) -> None:
        """Sign from now on with a new key, published beside the old one."""
        self.signing_key = Ed25519PrivateKey.generate()
        self.published[f"fal-key-{len(self.published) + 1}"] = self.signing_key

    @property
    def charged(self) -> list[str]:
        return [r.id for r in self.requests_by_id.values() if r.charged]

    # --- the queue ------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Key {API_KEY}":
            return json_response({"detail": "No user found for Key ID and Secret"}, 401)
        return None

    async def _check(self, endpoint: Endpoint, body: dict[str, Any]) -> list[dict[str, Any]]:
        problems = [
            _problem(name, "Extra inputs are not permitted", "extra_forbidden")
            for name in sorted(set(body) - endpoint.fields)
        ]
        problems += [
            _problem(name, "field required", "value_error.missing")
            for name in endpoint.required
            if name not in body
        ]
        prompt = body.get("prompt")
        if "prompt" in body and (not isinstance(prompt, str) or not prompt.strip()):
            problems.append(_problem("prompt", "must be a non-empty string", "string_type"))
        enums = {
            "aspect_ratio": endpoint.aspect_ratios,
            "duration": endpoint.durations,
            "resolution": endpoint.resolutions,
            "safety_tolerance": SAFETY_TOLERANCES,
        }
        for name, allowed in enums.items():
            if name in body and body[name] not in allowed:
                message = f"Input should be {' or '.join(repr(a) for a in allowed)}"
                problems.append(_problem(name, message, "literal_error"))
        for name in ("generate_audio", "auto_fix"):
            if name in body and not isinstance(body[name], bool):
                problems.append(_problem(name, "Input should be a valid boolean", "bool_type"))
        seed = body.get("seed")
        if "seed" in body and (isinstance(seed, bool) or not isinstance(seed, int)):
            problems.append(_problem("seed", "Input should be a valid integer", "int_type"))
        if "negative_prompt" in body and not isinstance(body["negative_prompt"], str):
            problems.append(_problem("negative_prompt", "must be a string", "string_type"))
        for name in endpoint.images:
            if name in body:
                problems += await self._media(name, body[name], read_image)
        for name in endpoint.image_lists:
            values = body.get(name)
            if name in body and (not isinstance(values, list) or not 1 <= len(values) <= 3):
                problems.append(_problem(name, "takes 1 to 3 image URLs", "list_type"))
            elif isinstance(values, list):
                for value in values:
                    problems += await self._media(name, value, read_image)
        for name in endpoint.videos:
            if name in body:
                problems += await self._media(name, body[name], read_video)
        return problems

    async def _media(self, name: str, value: Any, read: Any) -> list[dict[str, Any]]:
        data = await read(value)
        if isinstance(data, str):
            return [_problem(name, f"{name} {data}", "file_download_error")]
        self.fetched.append(data)
        return []

    async def _submit(self, request: web.Request) -> web.Response:
        if denied := self._authorized(request):
            return denied
        endpoint_id = request.match_info["endpoint"]
        endpoint = ENDPOINTS.get(endpoint_id)
        if endpoint is None:
            return json_response({"detail": f"Application '{endpoint_id}' not found"}, 404)
        try:
            body = await request.json()
        except ValueError:
            return json_response({"detail": "Request body is not valid JSON"}, 400)
        if not isinstance(body, dict):
            return _validation([_problem("body", "Input should be an object", "dict_type")])
        if problems := await self._check(endpoint, body):
            return _validation(problems)
        webhook = request.query.get("fal_webhook")
        if webhook is not None and not webhook.startswith(("https://", "http://")):
            return json_response({"detail": "fal_webhook must be an http(s) URL"}, 400)
        if self.balance <= 0:
            message = (
                "User is locked. Reason: Exhausted balance. Top up your balance at "
                "fal.ai/dashboard/billing."
            )
            return json_response({"detail": message}, 403)
        self.balance -= 1
        app = "/".join(endpoint_id.split("/")[:2])
        request_id = str(uuid.uuid4())
        run_s = self.job_duration_s * (100 if "[slow]" in body["prompt"] else 1)
        job = FalRequest(
            request_id, app, endpoint_id, body, self.clock(), run_s, self.queue_ahead, webhook
        )
        self.requests_by_id[request_id] = job
        if webhook is not None:
            task = asyncio.create_task(self._call_back(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        base = f"http://localhost:{self.port}" if self.foreign_urls else self.base_url
        url = f"{base}/{app}/requests/{request_id}"
        return json_response(
            {
                "status": "IN_QUEUE",
                "request_id": request_id,
                "gateway_request_id": request_id,
                "response_url": url,
                "status_url": f"{url}/status",
                "cancel_url": f"{url}/cancel",
                "logs": None,
                "metrics": {},
                "queue_position": job.queue_ahead,
            }
        )

    def _phase(self, job: FalRequest) -> tuple[str, int]:
        """("queued", position) | ("running", 0) | ("done", 0) | ("cancelled", 0)."""
        if job.cancelled_at is not None:
            return "cancelled", 0
        elapsed = self.clock() - job.started
        queued_for = job.run_s / 3
        if elapsed < queued_for:
            return "queued", int(job.queue_ahead * (1 - elapsed / queued_for))
        if elapsed < job.run_s:
            return "running", 0
        if job.finished_at is None:
            job.finished_at = job.started + job.run_s
            job.charged = not any(m in job.body["prompt"] for m in ("[fail]", "[rai]", "[nourl]"))
        return "done", 0

    def _find(self, request: web.Request) -> FalRequest | web.Response:
        if denied := self._authorized(request):
            return denied
        job = self.requests_by_id.get(request.match_info["id"])
        app = f"{request.match_info['owner']}/{request.match_info['alias']}"
        if job is None or job.app != app:
            return json_response({"detail": "Request not found"}, 404)
        return job

    def _status_body(self, job: FalRequest) -> dict[str, Any]:
        phase, position = self._phase(job)
        if phase == "queued":
            return {"status": "IN_QUEUE", "queue_position": position}
        if phase == "running":
            return {"status": "IN_PROGRESS", "logs": None}
        body: dict[str, Any] = {"status": "COMPLETED", "logs": None, "metrics": {}}
        if phase == "cancelled":
            body |= {"error": "Request was cancelled", "error_type": "client_cancelled"}
        elif "[fail]" in job.body["prompt"]:
            body |= {"error": "Runner failed while processing", "error_type": "runner_server_error"}
        return body

    async def _status(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if isinstance(job, web.Response):
            return job
        if request.query.get("logs", "0") not in ("0", "1"):
            return json_response({"detail": "logs must be 0 or 1"}, 400)
        return json_response(self._status_body(job))

    def _output(self, job: FalRequest) -> tuple[int, dict[str, Any]]:
        prompt = job.body["prompt"]
        if "[rai]" in prompt:
            problem = _problem(
                "prompt",
                "The content was flagged by a content checker.",
                "content_policy_violation",
            )
            problem["url"] = "https://docs.fal.ai/errors#content_policy_violation"
            return 422, {"detail": [problem]}
        if "[fail]" in prompt:
            return 500, {"detail": "Runner failed while processing", "error_type": "runner_error"}
        if "[nourl]" in prompt:
            return 200, {"seed": 1}
        url = f"http://localhost:{self.port}/files/{job.file_token}/output.mp4"
        video = {
            "url": url,
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(self.video),
        }
        return 200, {"video": video, "seed": job.body.get("seed", 1)}

    async def _result(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if isinstance(job, web.Response):
            return job
        phase, _ = self._phase(job)
        if phase in ("queued", "running"):
            return json_response({"detail": "Request is still in progress"}, 400)
        if phase == "cancelled":
            return json_response(
                {"detail": "Request was cancelled", "error_type": "client_cancelled"}, 499
            )
        status, body = self._output(job)
        return json_response(body, status)

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if isinstance(job, web.Response):
            return json_response({"status": "NOT_FOUND"}, 404)
        phase, _ = self._phase(job)
        if phase in ("done", "cancelled"):
            return json_response({"status": "ALREADY_COMPLETED"}, 400)
        job.cancelled_at = self.clock()  # stops here: never completed, never charged
        if phase == "queued":
            return json_response({"status": "OK"})
        return json_response({"status": "CANCELLATION_REQUESTED"}, 202)

    async def _file(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.cdn_saw_authorization = True
        token = request.match_info["token"]
        job = next((j for j in self.requests_by_id.values() if j.file_token == token), None)
        if job is None or job.finished_at is None:
            return web.Response(status=404, text="Not Found")
        if self.file_ttl_s is not None and self.clock() - job.finished_at > self.file_ttl_s:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.video, content_type="video/mp4")

    async def _jwks(self, request: web.Request) -> web.Response:
        keys = [public_jwk(key, kid) for kid, key in self.published.items()]
        return json_response({"keys": keys})

    # --- webhooks -------------------------------------------------------------------------

    def signed_headers(self, request_id: str, body: bytes) -> dict[str, str]:
        """The headers fal sends with a webhook body, signed with the current key (or a stray
        one when forging)."""
        stamp = str(int(self.wall() + self.webhook_skew_s))
        message = "\n".join((request_id, USER_ID, stamp, hashlib.sha256(body).hexdigest()))
        key = Ed25519PrivateKey.generate() if self.forge_webhooks else self.signing_key
        return {
            "Content-Type": "application/json",
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": USER_ID,
            "X-Fal-Webhook-Timestamp": stamp,
            "X-Fal-Webhook-Signature": key.sign(message.encode()).hex(),
        }

    def webhook_body(self, job: FalRequest) -> dict[str, Any]:
        status, output = self._output(job)
        body: dict[str, Any] = {
            "request_id": job.id,
            "gateway_request_id": job.id,
            "status": "OK" if status == 200 else "ERROR",
            "payload": output,
        }
        if status != 200:
            body["error"] = f"Invalid status code: {status}"
        return body

    async def _call_back(self, job: FalRequest) -> None:
        """POST the outcome to `fal_webhook` once the request ends (one attempt; fal retries a
        failed delivery later, which a test does not wait for)."""
        while self._phase(job)[0] in ("queued", "running"):  # noqa: ASYNC110 - the fake's clock
            await asyncio.sleep(job.run_s / 20)
        if job.cancelled_at is not None:
            return
        body = json.dumps(self.webhook_body(job)).encode()
        assert job.webhook is not None
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    job.webhook, data=body, headers=self.signed_headers(job.id, body)
                ) as answer,
            ):
                job.webhooks.append((answer.status, json.loads(body)))
        except aiohttp.ClientError:
            job.webhooks.append((0, json.loads(body)))  # nobody listening there

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().close()


def create(**options: Any) -> FalFake:
    return FalFake(**options)
