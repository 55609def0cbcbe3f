"""A fake of Vertex AI's Veo 3.1 API (docs/providers.md §1) and the two Google services around
it: the OAuth token endpoint a service-account key names (`POST /token`), and the Cloud
Storage JSON API that serves results written to a bucket. All three on one local server,
checked the way Google checks them.

The token endpoint verifies the JWT grant's RS256 signature against the service account's
public key and its `grant_type`, `iss`, `aud`, `scope`, `iat`/`exp`; Vertex and Storage take
only the access tokens it issued, until they expire or are revoked.

Magic prompts: "[fail]" fails the operation (google.rpc code 3), "[rai]" has the video
removed by the safety filter, "[slow]" runs 100x longer, "[429]" has the first submit of that
prompt answer 429 RESOURCE_EXHAUSTED (without Retry-After, as Google does).

Options: `token_lifetime_s` and `expires_in_as_string` shape the token answers; `key_revoked`
refuses every grant (the key was deleted); `permission_denied` refuses the project (no Vertex
AI User role); `gcs_denied` refuses the bucket; `retired_models` answer 404 NOT_FOUND;
`escape_slashes` writes the base64 with `\\/` as some JSON encoders do; `cut_inline_answers`
drops the connection halfway through that many inline answers; `operation_ttl_s` forgets
operations.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes._base import FakeProvider, json_response

PROJECT = "veo-bot-test"
CLIENT_EMAIL = f"veo-bot@{PROJECT}.iam.gserviceaccount.com"
KEY_ID = "4f1d2c3b5a6978e0d1c2b3a4f5e6d7c8b9a0f1e2"
BUCKET = "veo-bot-results"
OUTPUT_URI = f"gs://{BUCKET}/veo/"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDALONE_HINT = (
    f"VERTEX_PROJECT={PROJECT} VERTEX_BASE_URL=<the address above> GCS_BASE_URL=<the same> "
    "GOOGLE_APPLICATION_CREDENTIALS=<a key file whose token_uri is <the address>/token>"
)

GA = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
PREVIEW = ("veo-3.1-lite-generate-001",)
MODELS = (*GA, *PREVIEW)
TAKES_REFERENCES = frozenset({"veo-3.1-generate-001", "veo-3.1-fast-generate-001"})
PARAMETERS = frozenset(
    {
        "durationSeconds",
        "aspectRatio",
        "resolution",
        "sampleCount",
        "seed",
        "negativePrompt",
        "personGeneration",
        "generateAudio",
        "enhancePrompt",
        "storageUri",
        "pubsubTopic",
        "compressionQuality",
        "resizeMode",
        "fps",
    }
)
INSTANCE_KEYS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
RAI_REASON = "Filtered by support code 58061214: the prompt names a protected person."
_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,62}")


@functools.cache
def service_account_key() -> rsa.RSAPrivateKey:
    """The test service account's RSA key (made once per process; never a real one)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_file_info(
    token_uri: str, *, key: rsa.RSAPrivateKey | None = None, client_email: str = CLIENT_EMAIL
) -> dict[str, str]:
    """A service-account key file as Google issues it, pointing at `token_uri`."""
    pem = (key or service_account_key()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": pem.decode("ascii"),
        "client_email": client_email,
        "client_id": "104938475610293847561",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/veo-bot",
        "universe_domain": "googleapis.com",
    }


class GoogleError(Exception):
    """An answer in Google's error envelope (`google.rpc.Status`)."""

    def __init__(self, http: int, status: str, message: str) -> None:
        super().__init__(message)
        self.http, self.status, self.message = http, status, message

    def response(self) -> web.Response:
        body = {"error": {"code": self.http, "message": self.message, "status": self.status}}
        return json_response(body, self.http)


def invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Operation:
    name: str
    model: str
    prompt: str
    started_at: float
    duration_s: float
    request: dict[str, Any]
    storage_uri: str | None

    @property
    def done_at(self) -> float:
        return self.started_at + self.duration_s


@dataclass
class Grant:
    """One token request: what the JWT said, for the tests to read."""

    header: dict[str, Any]
    claims: dict[str, Any]
    issued: str | None


@dataclass
class Sent:
    """How many bytes of an answer the fake got out before the client hung up (or all)."""

    path: str
    size: int
    written: int = 0


class VertexFake(FakeProvider):
    family = "vertex"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        job_duration_s: float = 0.3,
        video: bytes | None = None,
        project: str = PROJECT,
        client_email: str = CLIENT_EMAIL,
        public_key: rsa.RSAPublicKey | None = None,
        token_lifetime_s: int = 3599,
        expires_in_as_string: bool = False,
        key_revoked: bool = False,
        permission_denied: bool = False,
        gcs_denied: bool = False,
        retired_models: Collection[str] = (),
        escape_slashes: bool = False,
        cut_inline_answers: int = 0,
        operation_ttl_s: float | None = None,
    ) -> None:
        super().__init__(clock=clock, job_duration_s=job_duration_s, video=video)
        self.project = project
        self.client_email = client_email
        self.public_key = public_key or service_account_key().public_key()
        self.token_lifetime_s = token_lifetime_s
        self.expires_in_as_string = expires_in_as_string
        self.key_revoked = key_revoked
        self.permission_denied = permission_denied
        self.gcs_denied = gcs_denied
        self.retired_models = frozenset(retired_models)
        self.escape_slashes = escape_slashes
        self.cut_inline_answers = cut_inline_answers
        self.operation_ttl_s = operation_ttl_s
        self.tokens: dict[str, float] = {}  # access token -> when it expires (wall clock)
        self.grants: list[Grant] = []
        self.operations: dict[str, Operation] = {}
        self.objects: dict[str, bytes] = {}  # "bucket/object name" -> bytes
        self.sent: list[Sent] = []
        self._rate_limited_prompts: set[str] = set()

    def routes(self) -> list[web.RouteDef]:
        model_path = "/{version}/projects/{project}/locations/{location}/publishers/google/models"
        return [
            web.post("/token", self._token),
            web.post(model_path + "/{target}", self._model_call),
            web.get("/storage/v1/b/{bucket}/o/{object:.+}", self._object),
        ]

    def key_file(self, folder: Path, **overrides: Any) -> Path:
        """Write a key file whose token_uri is this fake's token endpoint."""
        info: dict[str, Any] = key_file_info(
            f"{self.base_url}/token", client_email=self.client_email
        )
        info.update(overrides)
        path = folder / "vertex-key.json"
        path.write_text(json.dumps(info, indent=2), encoding="utf-8")
        return path

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    # --- the token endpoint --------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request", "Bad Request")
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        if grant_type != JWT_BEARER:
            return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or assertion.count(".") != 2:
            return oauth_error("invalid_request", "Missing required parameter: assertion")
        head_b64, claims_b64, signature_b64 = assertion.split(".")
        try:
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error):
            return oauth_error("invalid_grant", "Invalid JWT: could not be parsed.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return oauth_error("invalid_grant", "Invalid JWT: could not be parsed.")
        if header.get("alg") != "RS256" or header.get("kid", KEY_ID) != KEY_ID:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.client_email:
            return oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            self.public_key.verify(
                signature,
                f"{head_b64}.{claims_b64}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        if self.key_revoked:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != TOKEN_AUDIENCE:
            return oauth_error(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {TOKEN_AUDIENCE}",
            )
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not (
            isinstance(iat, int)
            and isinstance(exp, int)
            and 0 < exp - iat <= 3600
            and iat - 300 <= now <= exp
        ):
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.",
            )
        if SCOPE not in str(claims.get("scope", "")).split():
            return oauth_error("invalid_scope", "Empty or missing scope not allowed.")
        token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        self.tokens[token] = now + self.token_lifetime_s
        self.grants.append(Grant(header, claims, token))
        lifetime: int | str = self.token_lifetime_s
        if self.expires_in_as_string:
            lifetime = str(lifetime)
        return json_response(
            {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
        )

    def _check_token(self, request: web.Request) -> None:
        value = request.headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        expires = self.tokens.get(value.removeprefix("Bearer "))
        if expires is None or time.time() >= expires:
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )

    # --- Vertex AI ---------------------------------------------------------------------------

    async def _model_call(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        model, _, method = info["target"].partition(":")
        try:
            if info["version"] not in ("v1", "v1beta1") or not _LOCATION.fullmatch(
                info["location"]
            ):
                raise GoogleError(404, "NOT_FOUND", "The requested URL was not found.")
            self._check_token(request)
            resource = (
                f"projects/{info['project']}/locations/{info['location']}"
                f"/publishers/google/models/{model}"
            )
            if info["project"] != self.project or self.permission_denied:
                raise GoogleError(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'aiplatform.endpoints.predict' denied on resource "
                    f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                )
            if model not in MODELS or model in self.retired_models:
                raise GoogleError(
                    404,
                    "NOT_FOUND",
                    f"Publisher Model `{resource}` was not found or your project does not have "
                    "access to it. Please ensure you are using a valid model version.",
                )
            try:
                body = json.loads(await request.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise invalid("Invalid JSON payload received.") from None
            if method == "predictLongRunning":
                return self._submit(resource, model, body)
            if method == "fetchPredictOperation":
                return await self._fetch(request, resource, body)
            raise GoogleError(404, "NOT_FOUND", f"Method {method!r} not found.")
        except GoogleError as err:
            return err.response()

    def _submit(self, resource: str, model: str, body: Any) -> web.StreamResponse:
        prompt, storage_uri = self._validate(model, body)
        if "[429]" in prompt and prompt not in self._rate_limited_prompts:
            self._rate_limited_prompts.add(prompt)
            raise GoogleError(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for aiplatform.googleapis.com/"
                "online_prediction_requests_per_base_model with base model: veo-3.1. Please "
                "submit a quota increase request.",
            )
        name = f"{resource}/operations/{secrets.token_hex(8)}"
        self.operations[name] = Operation(
            name=name,
            model=model,
            prompt=prompt,
            started_at=self.clock(),
            duration_s=self.job_duration_s * (100 if "[slow]" in prompt else 1),
            request=body,
            storage_uri=storage_uri,
        )
        return json_response({"name": name})

    def _validate(self, model: str, body: Any) -> tuple[str, str | None]:
        """Refuse what Vertex refuses; return the prompt and the storageUri."""
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        for key in body:
            if key not in ("instances", "parameters", "labels"):
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
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'instances[0]': "
                    "Cannot find field."
                )
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise invalid("parameters must be an object.")
        for key in parameters:
            if key not in PARAMETERS:
                raise invalid(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'parameters': "
                    "Cannot find field."
                )

        prompt = instance.get("prompt")
        image, last_frame = instance.get("image"), instance.get("lastFrame")
        references, video = instance.get("referenceImages"), instance.get("video")
        if prompt is not None and not isinstance(prompt, str):
            raise invalid("instances[0].prompt must be a string.")
        if not (prompt and prompt.strip()) and image is None:
            raise invalid("instances[0].prompt is required.")
        if image is not None:
            self._check_image(image, "image")
        if last_frame is not None:
            if image is None:
                raise invalid("lastFrame needs image (the first frame).")
            self._check_image(last_frame, "lastFrame")
        if references is not None:
            if model not in TAKES_REFERENCES:
                raise invalid(f"referenceImages isn't supported by {model}.")
            if any(x is not None for x in (image, last_frame, video)):
                raise invalid("referenceImages cannot be combined with image, lastFrame or video.")
            if not isinstance(references, list) or not 1 <= len(references) <= 3:
                raise invalid("referenceImages takes 1 to 3 images.")
            for index, reference in enumerate(references):
                where = f"referenceImages[{index}]"
                if not isinstance(reference, dict) or set(reference) != {"image", "referenceType"}:
                    raise invalid(f"{where} needs image and referenceType.")
                if str(reference["referenceType"]).lower() != "asset":
                    raise invalid(
                        f"{where}.referenceType {reference['referenceType']!r} is not "
                        f"supported by {model}."
                    )
                self._check_image(reference["image"], f"{where}.image")
        if video is not None:
            if image is not None or last_frame is not None:
                raise invalid("video cannot be combined with image or lastFrame.")
            self._check_video(video)

        aspect = parameters.get("aspectRatio", "16:9")
        if aspect not in ("16:9", "9:16"):
            raise invalid(f"aspectRatio {aspect!r} is not supported; use 16:9 or 9:16.")
        resolution = parameters.get("resolution", "720p")
        if resolution not in ("720p", "1080p"):
            raise invalid(f"resolution {resolution!r} is not supported by {model}.")
        duration = parameters.get("durationSeconds")
        if isinstance(duration, str) and duration.isdigit():  # tolerated (docs/providers.md §10)
            duration = int(duration)
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
            raise invalid("durationSeconds must be an integer.")
        if video is not None:
            # An extension adds 7 s at 720p.
            if duration not in (None, 7) or resolution != "720p":
                raise invalid("Video extension makes 7 seconds at 720p.")
        else:
            duration = 8 if duration is None else duration
            allowed = (8,) if resolution == "1080p" or references is not None else (4, 6, 8)
            if duration not in allowed:
                raise invalid(
                    f"durationSeconds {duration} is out of range for this request: {allowed}."
                )
        if references is not None:
            if aspect != "16:9":
                raise invalid("Reference image to video supports 16:9 only.")
            if "negativePrompt" in parameters:
                raise invalid("Negative prompt is not supported in your use case.")
        count = parameters.get("sampleCount", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
            raise invalid("sampleCount must be from 1 to 4.")
        seed = parameters.get("seed")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32
        ):
            raise invalid("seed must be an unsigned 32-bit integer.")
        for flag in ("generateAudio", "enhancePrompt"):
            if flag in parameters and not isinstance(parameters[flag], bool):
                raise invalid(f"{flag} must be a boolean.")
        negative = parameters.get("negativePrompt")
        if negative is not None and not isinstance(negative, str):
            raise invalid("negativePrompt must be a string.")
        person = parameters.get("personGeneration")
        if person is not None and person not in ("dont_allow", "allow_adult", "allow_all"):
            raise invalid(f"personGeneration {person!r} is not a valid value.")
        storage_uri = parameters.get("storageUri")
        if storage_uri is not None and not str(storage_uri).startswith(f"gs://{BUCKET}/"):
            raise invalid(f"storageUri {storage_uri!r}: the bucket does not exist.")
        return prompt or "", str(storage_uri) if storage_uri is not None else None

    @staticmethod
    def _check_image(part: Any, where: str) -> None:
        if not isinstance(part, dict):
            raise invalid(f"{where} must be an object.")
        mime = part.get("mimeType")
        if mime not in IMAGE_MAGIC:
            raise invalid(
                f"{where}.mimeType {mime!r} is not supported; use image/jpeg or image/png."
            )
        if "gcsUri" in part:
            if set(part) != {"gcsUri", "mimeType"} or not str(part["gcsUri"]).startswith("gs://"):
                raise invalid(f"{where}.gcsUri must be a gs:// URI.")
            return
        if set(part) != {"bytesBase64Encoded", "mimeType"}:
            raise invalid(f"{where} needs bytesBase64Encoded or gcsUri, and mimeType.")
        try:
            data = base64.b64decode(part["bytesBase64Encoded"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise invalid(f"{where}.bytesBase64Encoded is not valid base64.") from None
        if not data.startswith(IMAGE_MAGIC[mime]):
            raise invalid(f"{where} is not a {mime} image.")

    def _check_video(self, video: Any) -> None:
        if not isinstance(video, dict) or video.get("mimeType") != "video/mp4":
            raise invalid("video needs mimeType video/mp4.")
        if set(video) == {"gcsUri", "mimeType"}:
            uri = str(video["gcsUri"])
            if uri.removeprefix("gs://") not in self.objects:
                raise invalid(f"video.gcsUri {uri} was not found or cannot be read.")
            return
        if set(video) != {"bytesBase64Encoded", "mimeType"}:
            raise invalid("video needs bytesBase64Encoded or gcsUri, and mimeType.")
        try:
            data = base64.b64decode(video["bytesBase64Encoded"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise invalid("video.bytesBase64Encoded is not valid base64.") from None
        if data[4:8] != b"ftyp":
            raise invalid("video is not an MP4.")

    # --- operations ----------------------------------------------------------------------

    def _live_operation(self, name: str) -> Operation | None:
        operation = self.operations.get(name)
        if operation is None:
            return None
        if self.operation_ttl_s is not None and self.clock() >= (
            operation.started_at + self.operation_ttl_s
        ):
            return None
        return operation

    async def _fetch(self, request: web.Request, resource: str, body: Any) -> web.StreamResponse:
        if not isinstance(body, dict) or set(body) != {"operationName"}:
            raise invalid("The request body takes operationName only.")
        name = body["operationName"]
        if not isinstance(name, str) or name.partition("/operations/")[0] != resource:
            raise invalid("operationName does not belong to this model.")
        operation = self._live_operation(name)
        if operation is None:
            raise GoogleError(404, "NOT_FOUND", f"Operation {name} not found.")
        elapsed = self.clock() - operation.started_at
        if elapsed < operation.duration_s / 2:
            return json_response({"name": name})
        if elapsed < operation.duration_s:
            return json_response({"name": name, "done": False})
        if "[fail]" in operation.prompt:
            error = {"code": 3, "message": "Video generation failed: invalid request (code 3)."}
            return json_response({"name": name, "done": True, "error": error})
        result: dict[str, Any] = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": 0}
        if "[rai]" in operation.prompt:
            result.update(raiMediaFilteredCount=1, raiMediaFilteredReasons=[RAI_REASON])
            return json_response({"name": name, "done": True, "response": result})
        # `sampleCount` videos; "[rai-last]": the filter took the last of several.
        samples = operation.request["parameters"].get("sampleCount", 1)
        if "[rai-last]" in operation.prompt and samples > 1:
            samples -= 1
            result.update(raiMediaFilteredCount=1, raiMediaFilteredReasons=[RAI_REASON])
        if operation.storage_uri is not None:
            folder = f"{operation.storage_uri.removeprefix('gs://')}{name.rpartition('/')[2]}"
            result["videos"] = []
            for sample in range(samples):
                obj = f"{folder}/sample_{sample}.mp4"
                self.objects[obj] = self.sample_video(sample)
                result["videos"].append({"gcsUri": f"gs://{obj}", "mimeType": "video/mp4"})
            return json_response({"name": name, "done": True, "response": result})
        return await self._send_inline(request, name, result, samples)

    def sample_video(self, sample: int) -> bytes:
        """The video of one sample: the first is `video`; the others differ in their last
        bytes, so that a test can tell which one arrived."""
        return self.video if sample == 0 else self.video + b"\x00" * sample

    async def _send_inline(
        self, request: web.Request, name: str, result: dict[str, Any], samples: int = 1
    ) -> web.StreamResponse:
        """The done operation with its videos inline, streamed out in pieces, counting what
        reached the client before it hung up."""
        result["videos"] = [
            {"bytesBase64Encoded": "@VIDEO@", "mimeType": "video/mp4"} for _ in range(samples)
        ]
        texts = json.dumps({"name": name, "done": True, "response": result}).split('"@VIDEO@"')
        parts: list[bytes] = [texts[0].encode() + b'"']
        for sample, after in enumerate(texts[1:]):
            encoded = base64.b64encode(self.sample_video(sample))
            if self.escape_slashes:
                encoded = encoded.replace(b"/", b"\\/")
            last = sample == len(texts) - 2
            parts += [encoded, b'"' + after.encode() + (b"" if last else b'"')]
        sent = Sent(request.path, sum(len(p) for p in parts))
        self.sent.append(sent)
        response = web.StreamResponse(headers={"Content-Type": "application/json; charset=UTF-8"})
        response.content_length = sent.size
        await response.prepare(request)
        step = 64 * 1024
        cut_at = sent.size // 2 if self.cut_inline_answers > 0 else sent.size + 1
        self.cut_inline_answers = max(0, self.cut_inline_answers - 1)
        try:
            for part in parts:
                for start in range(0, len(part), step):
                    if sent.written >= cut_at:
                        assert request.transport is not None
                        request.transport.abort()
                        return response
                    await response.write(part[start : start + step])
                    sent.written += len(part[start : start + step])
        except ConnectionError:  # the client hung up: what it had is counted
            return response
        await response.write_eof()
        return response

    # --- Cloud Storage -------------------------------------------------------------------

    async def _object(self, request: web.Request) -> web.StreamResponse:
        bucket, name = request.match_info["bucket"], request.match_info["object"]
        try:
            self._check_token(request)
            # The object name is one path segment: its slashes must arrive encoded.
            if "/" in name and "%2F" not in request.raw_path:
                raise GoogleError(404, "NOT_FOUND", "Not Found")
            if self.gcs_denied:
                raise GoogleError(
                    403,
                    "PERMISSION_DENIED",
                    f"{self.client_email} does not have storage.objects.get access to the "
                    f"Google Cloud Storage object. Permission 'storage.objects.get' denied on "
                    "resource (or it may not exist).",
                )
            data = self.objects.get(f"{bucket}/{name}")
            if data is None:
                raise GoogleError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
        except GoogleError as err:
            return err.response()
        if request.query.get("alt") != "media":  # without alt=media: the object's metadata
            return json_response(
                {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(data))}
            )
        return web.Response(body=data, content_type="video/mp4")


def create(**options: Any) -> VertexFake:
    return VertexFake(**options)


def standalone_hint(fake: VertexFake) -> str:
    """The variables that point veo-bot at a running fake, with a key file written for it."""
    key = fake.key_file(Path(tempfile.mkdtemp(prefix="veo-vertex-fake-")))
    return (
        f"VERTEX_PROJECT={fake.project} VERTEX_BASE_URL={fake.base_url} "
        f"GOOGLE_APPLICATION_CREDENTIALS={key}; add VERTEX_OUTPUT_GCS_URI={OUTPUT_URI} "
        f"GCS_BASE_URL={fake.base_url} for results in Cloud Storage"
    )
