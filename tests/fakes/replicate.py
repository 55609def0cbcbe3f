"""A fake Replicate API for Google's Veo 3.1 models (docs/providers.md §4): `POST
/v1/models/{owner}/{name}/predictions` checks the input against the model's schema (422
"Input validation failed" otherwise) and fetches every image URL it is given; `GET
/v1/predictions/{id}` moves `starting` → `processing` → `succeeded` (`output`: the video's
URL on a second origin, `localhost`, Replicate's delivery host, which records any
Authorization); `POST /v1/predictions/{id}/cancel` stops it. `GET /v1/webhooks/default/secret`
and `GET /v1/account` answer as Replicate does.

Webhooks: a prediction created with `webhook` is POSTed (the prediction JSON) when it ends,
for the `completed` event, signed the Standard Webhooks way with the account's secret.

Replicate deletes outputs after an hour: `output_ttl_s` (3600 s of the fake's clock) later
the prediction reads `output: null, data_removed: true` and the file answers 404. Rate
limits: `create_per_min` (600) and `other_per_min` (3000), over the fake's clock; past them
429 "Request was throttled" with Retry-After.

Magic prompts: "[fail]" fails the prediction, "[rai]" fails it as flagged sensitive (E005),
"[slow]" runs 100x longer. Options: `forge_webhooks` signs with another secret; `credit`
(predictions the account can still pay for; 402 after).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._base import FakeProvider, json_response
from tests.fakes._media import read_image

API_TOKEN = "r8_fake_test_token"
USERNAME = "veo-bot-test"
STANDALONE_HINT = f"REPLICATE_API_TOKEN={API_TOKEN} REPLICATE_BASE_URL=<the address above>"
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
COMMON_INPUTS = {
    "prompt",
    "aspect_ratio",
    "duration",
    "resolution",
    "generate_audio",
    "negative_prompt",
    "seed",
    "image",
    "last_frame",
}
MODELS = {
    "google/veo-3.1": COMMON_INPUTS | {"reference_images"},
    "google/veo-3.1-fast": COMMON_INPUTS,
}
# The versions' first digits as on the model pages; the rest is made up.
VERSIONS = {
    "google/veo-3.1": "ed5b1767" + "0" * 56,
    "google/veo-3.1-fast": "e246755a" + "0" * 56,
}
SENSITIVE = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def _problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"type": f"https://replicate.com/docs/errors#{status}"}
    body |= {"title": title, "status": status, "detail": detail, **extra}
    response = json_response(body, status)
    response.content_type = "application/problem+json"
    return response


@dataclass
class Prediction:
    id: str
    model: str
    input: dict[str, Any]
    started: float
    run_s: float
    created_wall: float
    webhook: str | None = None
    events: tuple[str, ...] = ()
    cancelled_at: float | None = None
    finished_at: float | None = None
    charged: bool = False
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    webhooks: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)


class ReplicateFake(FakeProvider):
    family = "replicate"

    def __init__(
        self,
        *,
        output_ttl_s: float = 3600.0,
        create_per_min: int = 600,
        other_per_min: int = 3000,
        forge_webhooks: bool = False,
        credit: int = 1_000,
        wall: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.output_ttl_s = output_ttl_s
        self.create_per_min = create_per_min
        self.other_per_min = other_per_min
        self.forge_webhooks = forge_webhooks
        self.credit = credit
        self.wall = wall
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.predictions: dict[str, Prediction] = {}
        self.fetched: list[bytes] = []
        self.delivery_saw_authorization = False
        self._windows: dict[str, deque[float]] = {"create": deque(), "other": deque()}
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/models/{owner}/{name}/predictions", self._create),
            web.get("/v1/predictions/{id}", self._get),
            web.post("/v1/predictions/{id}/cancel", self._cancel),
            web.get("/v1/webhooks/default/secret", self._secret),
            web.get("/v1/account", self._account),
            web.get("/delivery/{token}/output.mp4", self._delivery),
        ]

    @property
    def charged(self) -> list[str]:
        return [p.id for p in self.predictions.values() if p.charged]

    # --- the rules every call follows -------------------------------------------------------

    def _gate(self, request: web.Request, kind: str) -> web.Response | None:
        """Auth, then the rate limit of this kind of call (a sliding minute)."""
        value = request.headers.get("Authorization", "")
        if value not in (f"Bearer {API_TOKEN}", f"Token {API_TOKEN}"):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        limit = self.create_per_min if kind == "create" else self.other_per_min
        window, now = self._windows[kind], self.clock()
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= limit:
            wait = max(1, int(60 - (now - window[0])) + 1)
            response = _problem(
                429,
                "Too Many Requests",
                f"Request was throttled. Your rate limit resets in ~{wait}s.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        window.append(now)
        return None

    async def _check(self, model: str, values: Any) -> list[dict[str, str]]:
        if not isinstance(values, dict):
            return [{"type": "type", "field": "input", "description": "input must be an object"}]
        problems: list[dict[str, str]] = []

        def bad(name: str, kind: str, words: str) -> None:
            problems.append({"type": kind, "field": f"input.{name}", "description": words})

        for name in sorted(set(values) - MODELS[model]):
            bad(
                name,
                "additional_property_not_allowed",
                f"Additional property {name} is not allowed",
            )
        prompt = values.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            bad("prompt", "required", "prompt is required")
        enums: dict[str, tuple[Any, ...]] = {
            "aspect_ratio": ("16:9", "9:16"),
            "duration": (4, 6, 8),
            "resolution": ("720p", "1080p"),
        }
        for name, allowed in enums.items():
            value = values.get(name)
            if name in values and (isinstance(value, bool) or value not in allowed):
                choices = ", ".join(str(a) for a in allowed)
                bad(name, "enum", f"{name} must be one of the following: {choices}")
        if "generate_audio" in values and not isinstance(values["generate_audio"], bool):
            bad("generate_audio", "type", "Invalid type. Expected: boolean")
        seed = values.get("seed")
        if "seed" in values and (isinstance(seed, bool) or not isinstance(seed, int)):
            bad("seed", "type", "Invalid type. Expected: integer")
        if "negative_prompt" in values and not isinstance(values["negative_prompt"], str):
            bad("negative_prompt", "type", "Invalid type. Expected: string")
        images = [(n, values[n]) for n in ("image", "last_frame") if n in values]
        refs = values.get("reference_images")
        if "reference_images" in values:
            if not isinstance(refs, list) or not 1 <= len(refs) <= 3:
                bad("reference_images", "array", "takes 1 to 3 images")
            else:
                images += [("reference_images", r) for r in refs]
                if values.get("aspect_ratio", "16:9") != "16:9" or values.get("duration", 8) != 8:
                    bad("reference_images", "condition", "only work at 16:9 and 8 seconds")
        for name, value in images:
            data = await read_image(value)
            if isinstance(data, str):
                bad(name, "format", f"{name} {data}")
            else:
                self.fetched.append(data)
        return problems

    # --- predictions ------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if refused := self._gate(request, "create"):
            return refused
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in MODELS:
            return _problem(404, "Not found", "The requested resource could not be found.")
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Bad request", "The request body is not valid JSON.")
        if not isinstance(body, dict) or set(body) - {"input", "webhook", "webhook_events_filter"}:
            return _problem(422, "Invalid request", "Only input, webhook and filter are taken.")
        if problems := await self._check(model, body.get("input")):
            lines = "".join(f"- {p['field']}: {p['description']}\n" for p in problems)
            return _problem(422, "Input validation failed", lines, invalid_fields=problems)
        webhook = body.get("webhook")
        events = body.get("webhook_events_filter", list(WEBHOOK_EVENTS))
        if webhook is not None and not (
            isinstance(webhook, str)
            and (
                webhook.startswith("https://")
                or webhook.startswith(("http://127.0.0.1", "http://localhost"))
            )
        ):
            return _problem(422, "Invalid webhook", "The webhook must be an HTTPS URL.")
        if not isinstance(events, list) or not set(events) <= set(WEBHOOK_EVENTS):
            return _problem(422, "Invalid webhook filter", f"Events are {WEBHOOK_EVENTS}.")
        if self.credit <= 0:
            return _problem(
                402,
                "Insufficient credit",
                "You have insufficient credit to run this model. Go to "
                "https://replicate.com/account/billing#billing to purchase credit.",
            )
        self.credit -= 1
        prompt = body["input"]["prompt"]
        prediction = Prediction(
            id=secrets.token_hex(13),
            model=model,
            input=body["input"],
            started=self.clock(),
            run_s=self.job_duration_s * (100 if "[slow]" in prompt else 1),
            created_wall=self.wall(),
            webhook=webhook,
            events=tuple(events),
        )
        self.predictions[prediction.id] = prediction
        if webhook is not None:
            task = asyncio.create_task(self._call_back(prediction))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return json_response(self.prediction_json(prediction), 201)

    def _status(self, prediction: Prediction) -> str:
        if prediction.cancelled_at is not None:
            return "canceled"
        elapsed = self.clock() - prediction.started
        if elapsed < prediction.run_s / 3:
            return "starting"
        if elapsed < prediction.run_s:
            return "processing"
        prompt = prediction.input["prompt"]
        if prediction.finished_at is None:
            prediction.finished_at = prediction.started + prediction.run_s
            prediction.charged = "[fail]" not in prompt and "[rai]" not in prompt
        return "failed" if "[fail]" in prompt or "[rai]" in prompt else "succeeded"

    def removed(self, prediction: Prediction) -> bool:
        done = prediction.finished_at or prediction.cancelled_at
        return done is not None and self.clock() - done > self.output_ttl_s

    def prediction_json(self, prediction: Prediction) -> dict[str, Any]:
        status = self._status(prediction)
        removed = self.removed(prediction)
        url = f"{self.base_url}/v1/predictions/{prediction.id}"
        body: dict[str, Any] = {
            "id": prediction.id,
            "model": prediction.model,
            "version": VERSIONS[prediction.model],
            "input": {} if removed else prediction.input,
            "logs": "",
            "output": None,
            "data_removed": removed,
            "error": None,
            "status": status,
            "source": "api",
            "created_at": _stamp(prediction.created_wall),
            "urls": {
                "get": url,
                "cancel": f"{url}/cancel",
                "web": f"https://replicate.com/p/{prediction.id}",
            },
        }
        if status in ("processing", "succeeded", "failed"):
            body["started_at"] = _stamp(prediction.created_wall + prediction.run_s / 3)
        if status in ("succeeded", "failed", "canceled"):
            body["completed_at"] = _stamp(prediction.created_wall + prediction.run_s)
            body["metrics"] = {"predict_time": prediction.run_s * 2 / 3}
        if status == "succeeded" and not removed:
            body["output"] = f"http://localhost:{self.port}/delivery/{prediction.token}/output.mp4"
        if status == "failed":
            prompt = prediction.input["prompt"]
            body["error"] = SENSITIVE if "[rai]" in prompt else "Prediction failed."
        return body

    def _find(self, request: web.Request) -> Prediction | web.Response:
        if refused := self._gate(request, "other"):
            return refused
        prediction = self.predictions.get(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        return prediction

    async def _get(self, request: web.Request) -> web.Response:
        prediction = self._find(request)
        if isinstance(prediction, web.Response):
            return prediction
        return json_response(self.prediction_json(prediction))

    async def _cancel(self, request: web.Request) -> web.Response:
        prediction = self._find(request)
        if isinstance(prediction, web.Response):
            return prediction
        if self._status(prediction) in ("starting", "processing"):
            prediction.cancelled_at = self.clock()  # stops here: never billed
        return json_response(self.prediction_json(prediction))

    async def _secret(self, request: web.Request) -> web.Response:
        if refused := self._gate(request, "other"):
            return refused
        return json_response({"key": self.secret})

    async def _account(self, request: web.Request) -> web.Response:
        if refused := self._gate(request, "other"):
            return refused
        return json_response(
            {"type": "user", "username": USERNAME, "name": "veo-bot tests", "github_url": None}
        )

    async def _delivery(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.delivery_saw_authorization = True
        token = request.match_info["token"]
        found = next((p for p in self.predictions.values() if p.token == token), None)
        if found is None or self._status(found) != "succeeded" or self.removed(found):
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.video, content_type="video/mp4")

    # --- webhooks ---------------------------------------------------------------------------

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Standard Webhooks headers for a body, signed with the account's secret (or another
        one when forging)."""
        secret = self.secret
        if self.forge_webhooks:
            secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        message_id = "msg_" + secrets.token_hex(12)
        stamp = str(int(self.wall()))
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{message_id}.{stamp}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{signature}",
        }

    async def _call_back(self, prediction: Prediction) -> None:
        """POST the prediction to its webhook when it ends (the `completed` event)."""
        while self._status(prediction) in ("starting", "processing"):  # noqa: ASYNC110
            await asyncio.sleep(prediction.run_s / 20)
        if "completed" not in prediction.events or prediction.webhook is None:
            return
        payload = self.prediction_json(prediction)
        body = json.dumps(payload).encode()
        headers = self.signed_headers(body)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(prediction.webhook, data=body, headers=headers) as answer,
            ):
                prediction.webhooks.append((answer.status, headers, payload))
        except aiohttp.ClientError:
            prediction.webhooks.append((0, headers, payload))  # nobody listening there

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().close()


def create(**options: Any) -> ReplicateFake:
    return ReplicateFake(**options)
