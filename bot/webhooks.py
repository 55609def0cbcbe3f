"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature), as OpenAI
and Gemini's static webhooks sign them: HMAC-SHA256 over "id.timestamp.body", base64, keys
given as `whsec_<base64>`, several space-separated `v1,<sig>` entries during key rotation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from bot.links import same_digest

TOLERANCE_S = 300


class InvalidSignature(Exception):
    """The request is not signed by the holder of the secret (or is too old / too new)."""


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as exc:
            raise ValueError("a whsec_ secret must be base64") from exc
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature (`v1,<base64>`) of a body, as providers sign callbacks."""
    # Headers reach us as str decoded with surrogateescape: any byte must survive the trip.
    message = f"{webhook_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> str:
    """Check the signature; return the webhook id (the idempotency key) or raise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (webhook_id and stamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a number") from None
    if abs(now - timestamp) > tolerance_s:
        raise InvalidSignature("webhook-timestamp outside the tolerance")
    expected = sign(secret, webhook_id, timestamp, body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and same_digest(expected, candidate):
            return webhook_id
    raise InvalidSignature("no signature matches")
