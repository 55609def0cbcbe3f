"""Standard Webhooks verification, checked against an independently computed signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.webhooks import InvalidSignature, verify

SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
BODY = b'{"type":"video.completed","data":{"id":"video_1"}}'
NOW = 1_790_000_000


def signature(msg_id: str, ts: int, body: bytes, key: bytes = SECRET_BYTES) -> str:
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(sig: str, ts: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(ts), "Webhook-Signature": sig}


def test_a_correct_signature_is_accepted_among_several() -> None:
    rotated = "v1,AAAA " + signature("msg_1", NOW, BODY)
    assert verify(SECRET, headers(rotated), BODY, now=NOW + 10) == "msg_1"


def test_a_plain_secret_is_used_as_raw_bytes() -> None:
    sig = signature("msg_1", NOW, BODY, key=b"plain-secret")
    assert verify("plain-secret", headers(sig), BODY, now=NOW) == "msg_1"


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "reason"),
    [
        (headers(signature("msg_1", NOW, BODY)), BODY + b" ", NOW, "no signature matches"),
        (headers(signature("msg_2", NOW, BODY)), BODY, NOW, "no signature matches"),
        (headers(signature("msg_1", NOW, BODY)), BODY, NOW + 301, "outside the tolerance"),
        (headers(signature("msg_1", NOW, BODY)), BODY, NOW - 301, "outside the tolerance"),
        ({"Webhook-Id": "msg_1"}, BODY, NOW, "missing"),
        (
            headers(signature("msg_1", NOW, BODY), ts=0) | {"Webhook-Timestamp": "soon"},
            BODY,
            NOW,
            "not a number",
        ),
        (headers("v2," + signature("msg_1", NOW, BODY)[3:]), BODY, NOW, "no signature matches"),
    ],
)
def test_anything_else_is_refused(hdrs: dict[str, str], body: bytes, now: int, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify(SECRET, hdrs, body, now=now)


@pytest.mark.parametrize(
    "hdrs",
    [
        # aiohttp decodes header bytes as UTF-8 with surrogateescape: a raw 0xFF arrives as
        # "\udcff", and a forger controls every one of these headers.
        headers("v1,\udcff" + signature("msg_1", NOW, BODY)[4:]),
        headers("v1,é" + signature("msg_1", NOW, BODY)[4:]),
        headers(signature("msg_1", NOW, BODY), msg_id="msg_\udcff"),
        headers(signature("msg_1", NOW, BODY), msg_id="msg_é"),
    ],
)
def test_non_ascii_headers_are_refused_as_forgeries_not_crashes(hdrs: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, hdrs, BODY, now=NOW)
