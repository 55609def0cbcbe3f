"""What every HTTP provider adapter shares: one httpx client, errors mapped at this boundary,
`Retry-After` read, and result downloads that send the key only to the provider's own host.

This is the one place (with the adapters that call it) where httpx exceptions are caught.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from bot.errors import (
    ProviderAnswerLost,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderJobNotFound,
    ProviderOutOfCredits,
    ProviderRateLimited,
    ProviderUnavailable,
)
from bot.models import ProviderHealth
from bot.retry_after import parse_retry_after

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Failures before the request went out: repeating it cannot start anything twice. (A request
# whose body was cut off while writing cannot be acted on either.)
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
MAX_REDIRECTS = 5
_CHUNK = 256 * 1024

# (status, parsed body) -> the error to raise; None falls back to `default_error`.
ErrorMapper = Callable[[int, Any, httpx.Response], ProviderError | None]


def retry_after_s(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or an HTTP date), capped;
    None when it cannot be read (`inf`, `nan`, negative, garbage)."""
    return parse_retry_after(
        response.headers.get("retry-after"), now=now if now is not None else time.time()
    )


def error_message(body: Any) -> str:
    """The provider's own words from any of the usual envelopes (for logs only)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)
        if isinstance(err, str) and err:
            return err
        for key in ("message", "detail", "fail_reason"):
            if body.get(key):
                return str(body[key])
    if isinstance(body, str):
        return body[:300]
    return ""


def default_error(status: int, body: Any, response: httpx.Response) -> ProviderError:
    detail = f"HTTP {status}: {error_message(body)}".strip(": ")
    if status == 401:
        return ProviderAuthError(detail=detail)
    if status == 402:
        return ProviderOutOfCredits(detail=detail)
    if status == 403:
        return ProviderAuthError(detail=detail)
    if status == 404:
        return ProviderJobNotFound(detail=detail)
    if status == 429:
        return ProviderRateLimited(retry_after=retry_after_s(response), detail=detail)
    if status in (408, 409) or status >= 500:
        return ProviderUnavailable(detail=detail)
    return ProviderBadRequest(detail=detail)


def health_from_error(err: ProviderError) -> ProviderHealth:
    """What a failed `veo-bot doctor` probe says about the provider, in the operator's words
    (the detail is the provider's own, never our key)."""
    if isinstance(err, ProviderAuthError):
        return ProviderHealth(True, False, detail=f"the key was refused ({err.detail})")
    if isinstance(err, ProviderOutOfCredits):
        return ProviderHealth(True, True, detail=f"the account has no credits ({err.detail})")
    if isinstance(err, ProviderRateLimited):
        return ProviderHealth(True, True, detail="busy (rate limited) right now; ask again later")
    if isinstance(err, ProviderUnavailable):
        return ProviderHealth(False, None, detail=f"not answering ({err.detail})")
    return ProviderHealth(
        False, None, detail=f"did not answer as its API does ({err.detail}); check the base URL"
    )


def parse_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a `data:[mime][;base64],...` URI."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or not _:
        raise ProviderUnavailable(detail="malformed data: URI")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise ProviderUnavailable(detail="undecodable base64 result") from None
    return payload.encode()


class ApiClient:
    """An httpx client bound to one provider: its base URL, its auth headers (sent only to its
    own host) and its error mapping."""

    def __init__(
        self,
        base_url: str,
        auth_headers: Mapping[str, str],
        *,
        map_error: ErrorMapper | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._auth = dict(auth_headers)
        self._map_error = map_error
        # No default headers: the key must not follow a result URL to another host.
        self._client = httpx.AsyncClient(
            timeout=timeout, transport=transport, follow_redirects=False
        )

    def url(self, path: str) -> httpx.URL:
        return self.base_url.join(path.lstrip("/"))

    def is_own_host(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (
            self.base_url.scheme,
            self.base_url.host,
            self.base_url.port,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request to the provider; return a 2xx response or raise `ProviderError`."""
        url = self.url(path)
        try:
            response = await self._client.request(
                method,
                url,
                json=json_body,
                content=content,
                params=params,
                headers={**self._auth, **(headers or {})},
            )
        except _NOT_SENT as exc:  # the request certainly did not reach the provider
            raise ProviderUnavailable(detail=f"{type(exc).__name__}: {method} {url.path}") from None
        except httpx.HTTPError as exc:  # sent, but the answer was lost (timeout, reset)
            raise ProviderAnswerLost(detail=f"{type(exc).__name__}: {method} {url.path}") from None
        if response.is_success:
            return response
        body = parse_body(response)
        error = self._map_error(response.status_code, body, response) if self._map_error else None
        raise error or default_error(response.status_code, body, response)

    @contextlib.asynccontextmanager
    async def streaming(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A 2xx response whose body is still to be read (`aiter_bytes`), for answers too
        large to hold; errors are mapped as `request` maps them, reading the body included."""
        url = self.url(path)
        try:
            async with self._client.stream(
                method, url, params=params, headers=self._auth
            ) as response:
                if not response.is_success:
                    await response.aread()
                    body = parse_body(response)
                    status = response.status_code
                    error = self._map_error(status, body, response) if self._map_error else None
                    raise error or default_error(status, body, response)
                yield response
        except _NOT_SENT as exc:
            raise ProviderUnavailable(detail=f"{type(exc).__name__}: {method} {url.path}") from None
        except httpx.HTTPError as exc:
            raise ProviderAnswerLost(detail=f"{type(exc).__name__}: {method} {url.path}") from None

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        body = parse_body(response)
        if isinstance(body, str):
            raise ProviderUnavailable(detail=f"non-JSON answer from {method} {path}")
        return body

    async def stream(self, url: str | None) -> AsyncIterator[bytes]:
        """Stream a result: `data:` URIs decoded, redirects followed by hand so the key goes
        only to the provider's own host."""
        if not url:
            raise ProviderJobNotFound(detail="the finished job named no video")
        if url.startswith("data:"):
            yield decode_data_uri(url)
            return
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            headers = self._auth if self.is_own_host(target) else {}
            try:
                async with self._client.stream("GET", target, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        target = target.join(response.headers["location"])
                        continue
                    if not response.is_success:
                        await response.aread()
                        body = parse_body(response)
                        if response.status_code in (403, 404, 410):
                            # Signed URLs answer 403 / 404 once they expire.
                            raise ProviderJobNotFound(
                                detail=f"result URL answered {response.status_code}"
                            )
                        raise default_error(response.status_code, body, response)
                    async for chunk in response.aiter_bytes(_CHUNK):
                        yield chunk
                    return
            except httpx.TimeoutException:
                raise ProviderUnavailable(detail="timeout while downloading") from None
            except httpx.HTTPError as exc:
                raise ProviderUnavailable(
                    detail=f"{type(exc).__name__} while downloading"
                ) from None
        raise ProviderUnavailable(detail="too many redirects")

    async def stream_body(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Send a request to the provider and stream its 2xx body in chunks, never holding it
        whole; errors map as in `request`, and a body cut off midway is `ProviderAnswerLost`.
        Closing the iterator early hangs up without reading the rest."""
        url = self.url(path)
        try:
            async with self._client.stream(
                method,
                url,
                json=json_body,
                params=params,
                headers={**self._auth, **(headers or {})},
            ) as response:
                if not response.is_success:
                    await response.aread()
                    body = parse_body(response)
                    status = response.status_code
                    error = self._map_error(status, body, response) if self._map_error else None
                    raise error or default_error(status, body, response)
                async for chunk in response.aiter_bytes(_CHUNK):
                    yield chunk
        except _NOT_SENT as exc:
            raise ProviderUnavailable(detail=f"{type(exc).__name__}: {method} {url.path}") from None
        except httpx.HTTPError as exc:
            raise ProviderAnswerLost(detail=f"{type(exc).__name__}: {method} {url.path}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
