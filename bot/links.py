"""Everything the bot signs with its secret for its own web server (`VEO_PUBLIC_URL`):

- input images for providers that take images only as URLs: a short-lived signed URL when the
  server is reachable, else a base64 data URI; never a Discord or Slack URL, as those expire
  or need our token;
- links to videos too large to upload even re-encoded;
- the callback URL given to a provider, whose token says which job and until when.

The composition root builds one `MediaLinks` and hands it to the providers, the job service
and the web server, so what one signs the other checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from bot.clock import Clock
from bot.models import ImageInput, Job, MediaRole, ResultLink

DEFAULT_TTL_S = 6 * 3600  # providers may queue a job for hours before fetching its images
_RESULT = "result"  # signed like an input image, under a role no image has
# How long after its job's deadline a callback URL still works: a provider may retry a late
# callback, which then finds the job finished and changes nothing.
CALLBACK_GRACE_S = 3600.0


def same_digest(expected: str, given: str) -> bool:
    """Constant-time check of a digest we computed against one a request brought. As bytes:
    `hmac.compare_digest` raises on a non-ASCII str, and the request's side is anyone's."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


class MediaLinks:
    """Signs and checks the URLs of the bot's web server with one secret."""

    def __init__(
        self, public_url: str | None, secret: str, clock: Clock, *, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        self._base = public_url.rstrip("/") if public_url else None
        self._key = secret.encode()
        self._clock = clock
        self._ttl_s = ttl_s

    def _signature(self, job_id: str, role: str, position: int, expires: int) -> str:
        message = f"{job_id}/{role}/{position}/{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:40]

    def image_ref(self, job_id: str, role: MediaRole, position: int, image: ImageInput) -> str:
        """A URL (or data URI) from which a provider can fetch this image of this job."""
        if self._base is None:
            return f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"
        expires = int(self._clock.now() + self._ttl_s)
        signature = self._signature(job_id, role.value, position, expires)
        return (
            f"{self._base}/media/{job_id}/{role.value}/{position}"
            f"?expires={expires}&signature={signature}"
        )

    def verify(self, job_id: str, role: str, position: int, expires: int, signature: str) -> bool:
        """Whether a signed input-image link is genuine and has not expired."""
        if expires < self._clock.now():
            return False
        expected = self._signature(job_id, role, position, expires)
        return same_digest(expected, signature)

    def result_link(self, job_id: str, ttl_s: float) -> ResultLink | None:
        """A signed link to a job's finished video (`GET /results/{job_id}.mp4`), for one too
        large to upload even re-encoded; None when the bot's server is not reachable."""
        if self._base is None:
            return None
        expires = int(self._clock.now() + ttl_s)
        signature = self._signature(job_id, _RESULT, 0, expires)
        url = f"{self._base}/results/{job_id}.mp4?expires={expires}&signature={signature}"
        return ResultLink(url=url, expires_at=float(expires))

    def verify_result(self, job_id: str, expires: int, signature: str) -> bool:
        """Whether a signed result link is genuine and has not expired."""
        return self.verify(job_id, _RESULT, 0, expires, signature)

    def _callback_token(self, job_id: str, expires: int) -> str:
        """`<expires>-<HMAC of job id and expiry>`: the expiry is signed in, so it cannot be
        stretched, and the token says itself when it stops working."""
        message = f"{job_id}/{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
        return f"{expires}-{digest}"

    def callback_url(self, job: Job) -> str | None:
        """Where the job's provider may call back, until an hour past the job's deadline;
        None when the bot's server is not reachable."""
        if self._base is None:
            return None
        expires = math.ceil(job.deadline_at + CALLBACK_GRACE_S)
        token = self._callback_token(job.id, expires)
        return f"{self._base}/callbacks/{job.provider}/{job.id}?token={token}"

    def callback_refusal(self, job_id: str, token: str) -> str | None:
        """Why a callback's token is refused (`bad_token`, `expired_token`), or None."""
        expires, dash, _digest = token.partition("-")
        if not (
            self._key and dash and expires.isascii() and expires.isdigit() and len(expires) < 16
        ):
            return "bad_token"  # tokens from before expiries existed included
        if not same_digest(self._callback_token(job_id, int(expires)), token):
            return "bad_token"
        if int(expires) < self._clock.now():
            return "expired_token"
        return None
