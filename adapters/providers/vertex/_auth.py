"""Access tokens for Vertex AI from a service-account key file (docs/providers.md §1.3).

google-auth does the grant (an RS256 JWT signed with the key, exchanged at the key's
`token_uri`); this module reads the key file with plain-words errors, runs google-auth's
blocking refresh in a worker thread over httpx, and keeps one token for every job until
shortly before it expires, refreshing it once however many jobs ask at the same moment.
Tokens and keys are never logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from google.auth import exceptions, transport
from google.oauth2 import service_account

from bot.errors import ConfigurationError, ProviderAuthError, ProviderUnavailable
from bot.i18n import N_, _

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"
# A token is replaced this long before it expires, so that none expires on its way to Google
# (google-auth's own margin is 3 min 45 s).
REFRESH_MARGIN_S = 300.0
# Google's tokens last an hour; a token endpoint that does not say is taken at that.
DEFAULT_LIFETIME_S = 3600.0
_TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

KEY_REFUSED_MESSAGE = N_(
    "Google refused the bot's service-account key for Vertex AI (deleted, disabled or "
    "mistyped); an admin needs to check it."
)


def service_account_credentials(
    info: Mapping[str, Any], *, where: str = "the key"
) -> service_account.Credentials:
    """google-auth credentials for a service-account key, checked field by field first so that
    the operator reads what is wrong; never quotes the key."""
    kind = info.get("type")
    if kind != "service_account":
        said = (
            _(
                '{variable}: {where} is a "{kind}" key; Vertex AI needs a service-account key '
                '("type": "service_account"), made under IAM > Service accounts > Keys.'
            )
            if isinstance(kind, str) and kind
            else _(
                "{variable}: {where} is not a key file; Vertex AI needs a service-account key "
                '("type": "service_account"), made under IAM > Service accounts > Keys.'
            )
        )
        raise ConfigurationError(said.format(variable=VARIABLE, where=where, kind=kind))
    missing = [
        field
        for field in ("client_email", "private_key", "token_uri")
        if not isinstance(info.get(field), str) or not info[field]
    ]
    if missing:
        raise ConfigurationError(
            _(
                "{variable}: {where} has no {fields}; download a new key for the service account."
            ).format(variable=VARIABLE, where=where, fields=", ".join(missing))
        )
    token_uri = str(info["token_uri"])
    if not _safe_token_uri(token_uri):
        raise ConfigurationError(
            _(
                "{variable}: {where} names a token_uri that is not https; the signed "
                "grant must not travel in the clear."
            ).format(variable=VARIABLE, where=where)
        )
    try:
        # Never always_use_jwt_access: that skips the token endpoint (docs/providers.md §1.3).
        credentials: service_account.Credentials = (
            service_account.Credentials.from_service_account_info(dict(info), scopes=[SCOPE])
        )
    except (ValueError, TypeError, IndexError, KeyError):
        raise ConfigurationError(
            _("{variable}: the private_key in {where} is not a PEM-encoded RSA key.").format(
                variable=VARIABLE, where=where
            )
        ) from None
    return credentials


def load_key_file(path: Path | None) -> service_account.Credentials:
    """The credentials of the key file `GOOGLE_APPLICATION_CREDENTIALS` names, or a
    `ConfigurationError` naming the variable and the problem (never the file's contents)."""
    if path is None:
        raise ConfigurationError(
            _(
                "VERTEX_PROJECT is set, so Vertex AI needs {variable}: the path of the "
                "service account's JSON key file."
            ).format(variable=VARIABLE)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            _("{variable}: there is no file at {path}.").format(variable=VARIABLE, path=path)
        ) from None
    except IsADirectoryError:
        raise ConfigurationError(
            _("{variable}: {path} is a folder, not a key file.").format(
                variable=VARIABLE, path=path
            )
        ) from None
    except PermissionError:
        raise ConfigurationError(
            _("{variable}: {path} cannot be read by the bot (permission denied).").format(
                variable=VARIABLE, path=path
            )
        ) from None
    except (OSError, UnicodeDecodeError):
        raise ConfigurationError(
            _("{variable}: {path} cannot be read as a text file.").format(
                variable=VARIABLE, path=path
            )
        ) from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        raise ConfigurationError(
            _("{variable}: {path} is not a JSON key file.").format(variable=VARIABLE, path=path)
        )
    return service_account_credentials(info, where=str(path))


def _safe_token_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback  # a local test server
    except ValueError:
        return False


class _Response(transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._status = response.status_code
        self._headers = dict(response.headers)
        self._data = response.content

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> dict[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class _HttpxRequest(transport.Request):
    """google-auth's transport interface over a blocking httpx client (used in a worker
    thread only, one refresh at a time)."""

    def __init__(self) -> None:
        self._client = httpx.Client(timeout=_TOKEN_TIMEOUT, follow_redirects=False)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self._client.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=timeout if timeout is not None else _TOKEN_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(f"{type(exc).__name__} at the token endpoint") from None
        return _Response(response)

    def close(self) -> None:
        self._client.close()


class AccessTokens:
    """The access token every Vertex call carries: fetched on first use, reused until
    `REFRESH_MARGIN_S` before it expires, and refreshed by one caller while the others wait."""

    def __init__(
        self, credentials: service_account.Credentials, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._lock = asyncio.Lock()
        self._http = _HttpxRequest()
        self._token: str | None = None
        self._renew_at = 0.0

    @property
    def account(self) -> str:
        """The service account's e-mail, for health."""
        return str(self._credentials.service_account_email)

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one from the grant before it expires."""
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            started = self._clock()
            new, lifetime_s = await asyncio.to_thread(self._refresh)
            # A short-lived token is used for its first half rather than not at all.
            margin = min(REFRESH_MARGIN_S, lifetime_s / 2)
            self._token, self._renew_at = new, started + lifetime_s - margin
            return new

    def invalidate(self, token: str) -> None:
        """Google refused this token (revoked, or expired early): the next call gets another."""
        if self._token == token:
            self._token = None

    def _refresh(self) -> tuple[str, float]:
        """Blocking: google-auth signs the grant and asks the key's token_uri."""
        try:
            self._credentials.refresh(self._http)
        except exceptions.RefreshError as exc:
            # args[0] is "error: description" from the token endpoint (no token, no key).
            said = str(exc.args[0] if exc.args else "")[:200]
            if exc.retryable:
                raise ProviderUnavailable(detail=f"token endpoint: {said}") from None
            raise ProviderAuthError(
                _(KEY_REFUSED_MESSAGE), detail=f"token endpoint: {said}"
            ) from None
        except exceptions.TransportError as exc:
            raise ProviderUnavailable(detail=f"token endpoint: {exc.args[0]}") from None
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise ProviderUnavailable(detail="token endpoint answered without a token")
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        if expiry is None:
            lifetime = DEFAULT_LIFETIME_S
        else:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            lifetime = (expiry - now).total_seconds()
        log.info("vertex: new access token for %s, valid %.0f s", self.account, lifetime)
        return token, lifetime

    async def aclose(self) -> None:
        """Close the HTTP client of the token endpoint."""
        async with self._lock:  # not while a refresh is using the client
            self._http.close()
