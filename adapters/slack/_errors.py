"""The one place where slack_sdk and aiohttp failures become `bot.errors.DeliveryError`.

Rate limits, 5xx answers, Slack's own transient error codes and network trouble are retryable;
anything else (a channel the bot is not in, a revoked token) will not get better by itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import texts
from bot.errors import DeliveryError
from bot.retry_after import parse_retry_after

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT_CODES = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def _answer(exc: SlackApiError) -> tuple[int, str | None, str | None]:
    """Status, error code and Retry-After of a failed call, whatever shape the answer had
    (slack_sdk keeps non-JSON bodies as text, and raw aiohttp responses for unreadable ones)."""
    response: Any = exc.response
    status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
    data = getattr(response, "data", None)
    code = str(data["error"]) if isinstance(data, dict) and data.get("error") else None
    headers = getattr(response, "headers", None) or {}
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    return status, code, str(retry_after) if retry_after is not None else None


def delivery_error(action: str, exc: Exception) -> DeliveryError:
    """What the core needs to know about a failed Slack call: retry or give up, and what to
    tell people. The message is for the log: method, status and code, never the token."""
    if isinstance(exc, SlackApiError):
        status, code, retry_after = _answer(exc)
        retryable = status == 429 or status >= 500 or code in _TRANSIENT_CODES
        detail = f"{action}: Slack answered {status} {code or ''}".rstrip()
        if retry_after is not None:
            detail += f" (Retry-After {retry_after} s)"
        return DeliveryError(
            detail,
            retryable=retryable,
            user_message=texts.posting_refused_by_slack(code),
            retry_after=parse_retry_after(retry_after, now=time.time()),
        )
    # Upload-URL failures (SlackRequestError), resets and timeouts: worth another try.
    return DeliveryError(f"{action}: {type(exc).__name__}", retryable=True)


async def slack_call(action: str, call: Awaitable[T]) -> T:
    """Await one Web API call, mapping its failure to `DeliveryError`."""
    try:
        return await call
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise delivery_error(action, exc) from exc


async def best_effort(call: Awaitable[Any]) -> None:
    """For calls whose failure must not undo what is already done (a card after the video)."""
    try:
        await call
    except DeliveryError as err:
        log.warning("slack: %s", err)
