"""Every error the core raises or understands.

The hierarchy::

    VeoError                          base of everything veo-bot raises on purpose
    ├── UserFacingError               carries `user_message`, safe to show in a channel
    │   ├── InvalidRequest            the request breaks the catalog or the image rules
    │   ├── QuotaExceeded             a quota limit would be passed; says which and when it frees
    │   └── ProviderError             a provider said no or broke; `retryable` tells the scheduler
    │       ├── ProviderBadRequest        400 / 422: the provider refused the request
    │       ├── ProviderAuthError         401 / 403: our key is wrong or revoked
    │       ├── ProviderOutOfCredits      402 / 403-credits: the account has run dry
    │       ├── ProviderRateLimited       429: retry after `retry_after` seconds     (retryable)
    │       ├── ProviderJobNotFound       404 / expired: the job is gone at the provider
    │       ├── ProviderModelRetired      404 "no longer available": the model is gone
    │       ├── ContentRejected           moderation / safety filter refused the output
    │       └── ProviderUnavailable       5xx, timeouts, resets                      (retryable)
    ├── DeliveryError                 the chat surface could not post; `retryable` as above
    └── ConfigurationError            the operator's setup is wrong (database path, variables)

Anything else that escapes is unexpected: it is logged in full with a reference id
(`reference_id()`), and people only see `unexpected_message(ref)`. Exception text never
reaches a channel: it can hold prompts, URLs or keys. `reply_to(error)` is that rule, the one
catch-all every surface hooks in (discord.py's `tree.on_error`, bolt's `app.error`).

Each adapter is the one place that maps its lower-layer errors (httpx, discord.py, slack_sdk)
into these classes.
"""

from __future__ import annotations

import logging
import secrets

from bot.i18n import N_, _
from bot.retry_after import capped

log = logging.getLogger(__name__)


class VeoError(Exception):
    """Base class for errors veo-bot raises on purpose."""


class UserFacingError(VeoError):
    """An error whose `user_message` can be shown as it is to the person who asked."""

    def __init__(self, user_message: str, *, code: str = "invalid") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code


class InvalidRequest(UserFacingError):
    """The request breaks the model catalog or the image rules; nothing was charged."""

    def __init__(self, user_message: str, *, field: str | None = None) -> None:
        super().__init__(user_message, code="invalid_request")
        self.field = field


class QuotaExceeded(UserFacingError):
    """A quota limit would be passed; `limit` names which one, `resets_at` when it frees."""

    def __init__(
        self,
        user_message: str,
        *,
        limit: str,
        used: float,
        allowed: float,
        resets_at: float | None,
    ) -> None:
        super().__init__(user_message, code=f"quota_{limit}")
        self.limit = limit
        self.used = used
        self.allowed = allowed
        self.resets_at = resets_at


class ProviderError(UserFacingError):
    """A video provider refused or failed. `retryable` errors are retried by the scheduler."""

    retryable = False
    default_message = N_("The video provider could not make this video.")
    default_code = "provider_error"

    def __init__(self, user_message: str | None = None, *, detail: str = "") -> None:
        super().__init__(user_message or _(self.default_message), code=self.default_code)
        # For the log only: may quote the provider's own words, never shown in chat.
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.user_message} ({self.detail})" if self.detail else self.user_message


class ProviderBadRequest(ProviderError):
    """The provider refused the request as malformed or unsupported; not retried."""

    default_message = N_("The video provider refused this request.")
    default_code = "provider_bad_request"


class ProviderAuthError(ProviderError):
    """The provider refused the bot's key; an admin must fix it."""

    default_message = N_(
        "The bot's key for this video provider was refused; an admin needs to check it."
    )
    default_code = "provider_auth"


class ProviderOutOfCredits(ProviderError):
    """The provider account has no credits left; an admin must top it up."""

    default_message = N_(
        "The video provider account is out of credits; an admin needs to top it up."
    )
    default_code = "provider_out_of_credits"


class ProviderRateLimited(ProviderError):
    """The provider asked the bot to slow down; retried after its Retry-After."""

    retryable = True
    default_message = N_("The video provider is busy right now.")
    default_code = "provider_rate_limited"

    def __init__(
        self,
        user_message: str | None = None,
        *,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(user_message, detail=detail)
        # Whatever the provider said, as the bot honours it: finite, >= 0, capped.
        self.retry_after = capped(retry_after)


class ProviderJobNotFound(ProviderError):
    """The provider does not know the job (lost or expired); not retried."""

    default_message = N_("The video provider lost or expired this job.")
    default_code = "provider_job_not_found"


class ProviderModelRetired(ProviderError):
    """The provider says the model is gone for good (404 "no longer available") while the
    catalog still thinks it live. The core words it from the catalog, refunds, and warns the
    operator once per model."""

    default_message = N_("This model is no longer available at the video provider.")
    default_code = "model_retired"


class ContentRejected(ProviderError):
    """The provider's safety filter refused the prompt or image; people are told to reword."""

    default_message = N_(
        "The video provider's safety filter refused this prompt or image. "
        "Try wording it differently."
    )
    default_code = "content_rejected"


class ProviderUnavailable(ProviderError):
    """The provider did not answer or failed on its side; retried with backoff."""

    retryable = True
    default_message = N_("The video provider is not answering right now.")
    default_code = "provider_unavailable"


class ProviderAnswerLost(ProviderUnavailable):
    """The request may have reached the provider, but its answer was lost (read timeout,
    connection dropped after sending). Safe to repeat for reads; a submit repeated this way
    could start, and bill, a second video."""

    default_code = "provider_answer_lost"


class DeliveryError(VeoError):
    """The chat surface could not post; retried when `retryable`."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        user_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        # The platform's own Retry-After, honoured like a provider's (finite, >= 0, capped).
        self.retry_after = capped(retry_after)
        # Plain words for the channel when this ends the job; None: a generic sentence.
        self.user_message = user_message


class ConfigurationError(VeoError):
    """The operator's configuration cannot work; the message says what to fix (no secrets)."""


def reference_id() -> str:
    """A short id that ties a user-visible apology to the full log entry."""
    return secrets.token_hex(3)


def unexpected_message(ref: str) -> str:
    """The apology for an unexpected error: the reference and nothing of the error itself."""
    return _(
        "Something went wrong (ref {ref}). The team can look it up with that reference."
    ).format(ref=ref)


def reply_to(error: BaseException, *, during: str) -> str:
    """What to tell the person whose request ended in `error`: a `UserFacingError`'s own
    words; anything else is logged in full (what was going on: `during`) under a new reference
    id, and the person gets only `unexpected_message(ref)`."""
    if isinstance(error, UserFacingError):
        return error.user_message
    ref = reference_id()
    log.error("%s: unexpected error (ref %s)", during, ref, exc_info=error)
    return unexpected_message(ref)
