"""Banned words and patterns, per workspace, checked before anything is charged or sent.

A term is a word or phrase matched case-insensitively on word boundaries ("gore" matches
"Gore!" but not "gorey"), or a regular expression written `re:<pattern>`. The refusal never
echoes the offending word back to the channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.errors import InvalidRequest, UserFacingError

REFUSAL = (
    "This request uses wording this workspace does not allow, so it was not sent. "
    "Nothing was charged."
)
PATTERN_PREFIX = "re:"
MAX_TERM_CHARS = 200


def compile_term(term: str) -> re.Pattern[str]:
    """The matcher for one banned term; `InvalidRequest` when it cannot work."""
    term = term.strip()
    if not term or len(term) > MAX_TERM_CHARS:
        raise InvalidRequest(f"A banned term must be 1 to {MAX_TERM_CHARS} characters.")
    if term.startswith(PATTERN_PREFIX):
        try:
            return re.compile(term.removeprefix(PATTERN_PREFIX), re.IGNORECASE)
        except re.error as exc:
            raise InvalidRequest(
                f"That pattern is not a valid regular expression: {exc}."
            ) from None
    words = r"\s+".join(re.escape(word) for word in term.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def check(texts: Iterable[str | None], terms: Iterable[str]) -> None:
    """Raise a refusal when any text contains any banned term."""
    matchers = [compile_term(term) for term in terms]
    for text in texts:
        if text and any(matcher.search(text) for matcher in matchers):
            raise UserFacingError(REFUSAL, code="moderation")
