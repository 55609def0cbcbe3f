"""The Vertex fake refuses what Google refuses: a token grant that does not verify, and
requests Vertex would answer with an error."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from adapters.providers.vertex import SCOPE
from tests.fakes import vertex
from tests.fakes.vertex import CLIENT_EMAIL, key_file_info
from tests.support import png_bytes
from tests.vertex.support import FAST, LITE, MODELS_PATH, VEO31, b64


def _assertion(key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
    """A JWT grant signed the way google-auth signs it, with these claims changed."""
    now = int(time.time())
    payload = {
        "iss": CLIENT_EMAIL,
        "aud": "https://oauth2.googleapis.com/token",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    signer = crypt.RSASigner.from_service_account_info(
        key_file_info("http://127.0.0.1/token", key=key)
    )
    return str(jwt.encode(signer, payload).decode("ascii"))


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"assertion": "OK"}, 200, "access_token"),
        ({"assertion": "OK", "grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"assertion": "FOREIGN"}, 400, "Invalid JWT Signature"),
        ({"assertion": _assertion(aud="http://127.0.0.1/token")}, 400, "audience"),
        ({"assertion": _assertion(scope="openid")}, 400, "invalid_scope"),
        ({"assertion": _assertion(iss="someone@else.iam.gserviceaccount.com")}, 400, "account"),
        ({"assertion": _assertion(iat=int(time.time()) - 7200)}, 400, "short-lived"),
    ],
    ids=["good", "grant type", "other key", "audience", "scope", "issuer", "stale"],
)
async def test_the_token_endpoint_checks_the_grant(
    form: dict[str, str], status: int, words: str
) -> None:
    form = dict(form)
    if form["assertion"] == "OK":
        form["assertion"] = _assertion()
    elif form["assertion"] == "FOREIGN":
        form["assertion"] = _assertion(
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    form.setdefault("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
    fake = vertex.create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            answer = await client.post("/token", data=form)
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    assert words in answer.text


PNG = {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}
GIF_CALLED_PNG = {"bytesBase64Encoded": b64(b"GIF89a\x01\x00\x01\x00"), "mimeType": "image/png"}


@pytest.mark.parametrize(
    ("model", "instance", "parameters", "auth", "status", "words"),
    [
        (FAST, {}, {}, "token", 200, "operations/"),
        (FAST, {}, {"webhookConfig": {}}, "token", 400, "Unknown name"),
        (FAST, {}, {"resolution": "1080p", "durationSeconds": 4}, "token", 400, "out of range"),
        (FAST, {}, {"resolution": "4k"}, "token", 400, "resolution"),
        (FAST, {"lastFrame": PNG}, {}, "token", 400, "lastFrame needs image"),
        (FAST, {"image": GIF_CALLED_PNG}, {}, "token", 400, "is not a image/png image"),
        (FAST, {"image": {**PNG, "mimeType": "image/webp"}}, {}, "token", 400, "mimeType"),
        (
            VEO31,
            {"image": PNG, "referenceImages": [{"image": PNG, "referenceType": "asset"}]},
            {},
            "token",
            400,
            "cannot be combined",
        ),
        (
            VEO31,
            {"referenceImages": [{"image": PNG, "referenceType": "STYLE"}]},
            {},
            "token",
            400,
            "referenceType",
        ),
        (
            LITE,
            {"referenceImages": [{"image": PNG, "referenceType": "asset"}]},
            {},
            "token",
            400,
            "isn't supported",
        ),
        (
            FAST,
            {"video": {"gcsUri": "gs://x/y.mp4", "mimeType": "video/mp4"}},
            {},
            "token",
            400,
            "not found",
        ),
        (FAST, {}, {"seed": -1}, "token", 400, "seed"),
        ("veo-3.0-generate-001", {}, {}, "token", 404, "not found"),
        (FAST, {}, {}, "none", 401, "UNAUTHENTICATED"),
        (FAST, {}, {}, "forged", 401, "invalid authentication credentials"),
    ],
)
async def test_vertex_fake_refuses_what_vertex_refuses(
    model: str,
    instance: dict[str, Any],
    parameters: dict[str, Any],
    auth: str,
    status: int,
    words: str,
) -> None:
    extra = parameters.pop("webhookConfig", None)
    body: dict[str, Any] = {
        "instances": [{"prompt": "a fox", **instance}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": 8, **parameters},
    }
    if extra is not None:
        body["parameters"]["webhookConfig"] = extra
    fake = vertex.create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            grant = await client.post(
                "/token",
                data={"grant_type": vertex.JWT_BEARER, "assertion": _assertion()},
            )
            token = {"token": grant.json()["access_token"], "forged": "ya29.forged"}.get(auth)
            answer = await client.post(
                f"{MODELS_PATH}/{model}:predictLongRunning",
                json=body,
                headers={"Authorization": f"Bearer {token}"} if token else {},
            )
            wrong_project = await client.post(
                f"/v1/projects/other-project/locations/us-central1/publishers/google/models/{FAST}"
                ":predictLongRunning",
                json=body,
                headers={"Authorization": f"Bearer {grant.json()['access_token']}"},
            )
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    assert words in answer.text
    if status != 200:
        assert answer.json()["error"]["code"] == status
    assert wrong_project.status_code == 403 and "PERMISSION_DENIED" in wrong_project.text
