"""Banned words and patterns, per workspace, checked before anything is charged or sent.

A term is a word or phrase matched case-insensitively on word boundaries ("gore" matches
"Gore!" but not "gorey"), or a regular expression written `re:<pattern>`.

Everything is matched by RE2 (google-re2), whose matching time grows linearly with the text
whatever the pattern: no term, however written, can hold the event loop the way a
backtracking pattern such as `(a+)+$` does in Python's `re`. RE2 has no back-references or
look-around; a pattern it cannot run is refused in plain words when it is added. A workspace
keeps at most `MAX_TERMS` terms of at most `MAX_TERM_CHARS` characters. The refusal never
echoes the offending word back to the channel.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import re2

from bot.errors import InvalidRequest, UserFacingError

log = logging.getLogger(__name__)

REFUSAL = (
    "This request uses wording this workspace does not allow, so it was not sent. "
    "Nothing was charged."
)
PATTERN_PREFIX = "re:"
MAX_TERM_CHARS = 200
MAX_TERMS = 100
# RE2's memory budget per compiled term: bounds what a term costs to keep, and refuses
# patterns whose program alone would not fit (`\pL{1000}`).
_RE2_MAX_MEM = 1 << 20

# What is a word character for the boundaries, in RE2 syntax (its `\w` is ASCII only).
_NOT_WORD = r"[^\pL\pN\pM_]"
_SPACES = r"[\s\p{Z}]+"


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    options.case_sensitive = False
    return options


def compile_term(term: str) -> re2._Regexp[str]:
    """The matcher for one banned term; `InvalidRequest`, in plain words, when it cannot work."""
    term = term.strip()
    if not term or len(term) > MAX_TERM_CHARS:
        raise InvalidRequest(f"A banned term must be 1 to {MAX_TERM_CHARS} characters.")
    if term.startswith(PATTERN_PREFIX):
        pattern = term.removeprefix(PATTERN_PREFIX)
        if not pattern.strip():
            raise InvalidRequest("A pattern needs something after re: to look for.")
        try:
            return re2.compile(pattern, _options())
        except re2.error as exc:
            raise InvalidRequest(_pattern_problem(exc)) from None
    body = _SPACES.join(re2.escape(word) for word in term.split())
    return re2.compile(f"(?:^|{_NOT_WORD})(?:{body})(?:{_NOT_WORD}|$)", _options())


def _pattern_problem(exc: re2.error) -> str:
    detail = exc.args[0] if exc.args else b""
    reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return (
        f"That pattern is not a valid regular expression for RE2, the engine the bot runs "
        f"patterns with ({reason}). RE2 has no back-references (\\1) or look-around "
        "((?=, (?!, (?<=) and repeats at most 1000 times; rewrite the pattern without them, "
        "or ban the plain words instead."
    )


# How admins see a stored term that `BannedTerms` skips.
NOT_ENFORCED = "not enforced: RE2 cannot run it, replace it"


def unusable(term: str) -> bool:
    """Whether a stored term is skipped because it cannot be compiled (see `BannedTerms`)."""
    try:
        compile_term(term)
    except InvalidRequest:
        return True
    return False


class BannedTerms:
    """The check at intake, with each distinct term list compiled once (the `size` most
    recently used lists are kept): a request costs a linear scan per term, no compiling.

    A stored term that cannot be compiled (a pattern saved before RE2, with Python-only syntax
    such as a back-reference) is skipped with one warning when its list is compiled: intake
    keeps working for everyone, and the term shows as not enforced (`unusable`) in the list
    admins see until they replace it."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._compiled: OrderedDict[tuple[str, ...], tuple[re2._Regexp[str], ...]] = OrderedDict()

    def matchers(self, terms: Iterable[str]) -> tuple[re2._Regexp[str], ...]:
        key = tuple(terms)
        found = self._compiled.get(key)
        if found is not None:
            self._compiled.move_to_end(key)
            return found
        compiled: list[re2._Regexp[str]] = []
        for term in key:
            try:
                compiled.append(compile_term(term))
            except InvalidRequest:
                log.warning("banned term %r cannot be compiled by RE2; it is not enforced", term)
        self._compiled[key] = found = tuple(compiled)
        if len(self._compiled) > self._size:
            self._compiled.popitem(last=False)
        return found

    def check(self, texts: Iterable[str | None], terms: Iterable[str]) -> None:
        """Raise a refusal when any text contains any banned term."""
        matchers = self.matchers(terms)
        if not matchers:
            return
        for text in texts:
            if not text:
                continue
            if any(matcher.search(text) is not None for matcher in matchers):
                raise UserFacingError(REFUSAL, code="moderation")


def too_many_terms() -> InvalidRequest:
    return InvalidRequest(
        f"This workspace already bans {MAX_TERMS} terms, the most it can keep. "
        "Unban one (or fold several into one re: pattern) before adding another."
    )
