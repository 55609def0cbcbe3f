"""Banned words and patterns, per workspace, checked before anything is charged or sent.

A term is a word or phrase matched on word boundaries ("gore" matches "Gore!" but not
"gorey"), or a regular expression written `re:<pattern>`. Prompts and terms are compared in
one normal form, so that look-alike spellings match too (see `normalize`), and a word spelled
out letter by letter ("g o r e", "g.o.r.e", "g-o-r-e") matches as well.

Everything is matched by RE2 (google-re2), whose matching time grows linearly with the text
whatever the pattern: no term, however written, can hold the event loop the way a
backtracking pattern such as `(a+)+$` does in Python's `re`. RE2 has no back-references or
look-around; a pattern it cannot run is refused in plain words when it is added. A workspace
keeps at most `MAX_TERMS` terms of at most `MAX_TERM_CHARS` characters. The refusal never
echoes the offending word back to the channel.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from bot.errors import InvalidRequest, UserFacingError
from bot.i18n import N_, _

log = logging.getLogger(__name__)

REFUSAL = N_(
    "This request uses wording this workspace does not allow, so it was not sent. "
    "Nothing was charged."
)
PATTERN_PREFIX = "re:"
MAX_TERM_CHARS = 200
MAX_TERMS = 100
# RE2's memory budget per compiled term: bounds what a term costs to keep, and refuses
# patterns whose program alone would not fit (`\pL{1000}`).
_RE2_MAX_MEM = 1 << 20

# Letters of other scripts drawn like Latin ones, after Unicode's confusables.txt (UTS #39,
# "Unicode Security Mechanisms"): a compact subset, the Cyrillic and Greek letters whose
# prototype there is one Latin letter. Capital iota, Cyrillic I and palochka read as "I" (the
# file says "l") so that capitals spell the Latin word they imitate. Written by name: the
# point of these letters is that they cannot be told apart on screen.
_LOOK_ALIKES = {
    # Cyrillic
    "\N{CYRILLIC CAPITAL LETTER A}": "A",
    "\N{CYRILLIC SMALL LETTER A}": "a",
    "\N{CYRILLIC CAPITAL LETTER VE}": "B",
    "\N{CYRILLIC CAPITAL LETTER ES}": "C",
    "\N{CYRILLIC SMALL LETTER ES}": "c",
    "\N{CYRILLIC SMALL LETTER KOMI DE}": "d",
    "\N{CYRILLIC CAPITAL LETTER IE}": "E",
    "\N{CYRILLIC SMALL LETTER IE}": "e",
    "\N{CYRILLIC SMALL LETTER ABKHASIAN CHE}": "e",
    "\N{CYRILLIC CAPITAL LETTER KOMI SJE}": "G",
    "\N{CYRILLIC CAPITAL LETTER EN}": "H",
    "\N{CYRILLIC SMALL LETTER SHHA}": "h",
    "\N{CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I}": "I",
    "\N{CYRILLIC LETTER PALOCHKA}": "I",
    "\N{CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I}": "i",
    "\N{CYRILLIC SMALL LETTER PALOCHKA}": "i",
    "\N{CYRILLIC CAPITAL LETTER JE}": "J",
    "\N{CYRILLIC SMALL LETTER JE}": "j",
    "\N{CYRILLIC CAPITAL LETTER KA}": "K",
    "\N{CYRILLIC CAPITAL LETTER EM}": "M",
    "\N{CYRILLIC CAPITAL LETTER O}": "O",
    "\N{CYRILLIC SMALL LETTER O}": "o",
    "\N{CYRILLIC CAPITAL LETTER ER}": "P",
    "\N{CYRILLIC SMALL LETTER ER}": "p",
    "\N{CYRILLIC SMALL LETTER QA}": "q",
    "\N{CYRILLIC CAPITAL LETTER DZE}": "S",
    "\N{CYRILLIC SMALL LETTER DZE}": "s",
    "\N{CYRILLIC CAPITAL LETTER TE}": "T",
    "\N{CYRILLIC CAPITAL LETTER IZHITSA}": "V",
    "\N{CYRILLIC SMALL LETTER IZHITSA}": "v",
    "\N{CYRILLIC CAPITAL LETTER WE}": "W",
    "\N{CYRILLIC SMALL LETTER WE}": "w",
    "\N{CYRILLIC SMALL LETTER OMEGA}": "w",
    "\N{CYRILLIC CAPITAL LETTER HA}": "X",
    "\N{CYRILLIC SMALL LETTER HA}": "x",
    "\N{CYRILLIC CAPITAL LETTER U}": "Y",
    "\N{CYRILLIC CAPITAL LETTER STRAIGHT U}": "Y",
    "\N{CYRILLIC SMALL LETTER U}": "y",
    "\N{CYRILLIC SMALL LETTER STRAIGHT U}": "y",
    # Greek
    "\N{GREEK CAPITAL LETTER ALPHA}": "A",
    "\N{GREEK SMALL LETTER ALPHA}": "a",
    "\N{GREEK CAPITAL LETTER BETA}": "B",
    "\N{GREEK CAPITAL LUNATE SIGMA SYMBOL}": "C",
    "\N{GREEK LUNATE SIGMA SYMBOL}": "c",
    "\N{GREEK CAPITAL LETTER EPSILON}": "E",
    "\N{GREEK CAPITAL LETTER ETA}": "H",
    "\N{GREEK CAPITAL LETTER IOTA}": "I",
    "\N{GREEK SMALL LETTER IOTA}": "i",
    "\N{GREEK CAPITAL LETTER YOT}": "J",
    "\N{GREEK LETTER YOT}": "j",
    "\N{GREEK CAPITAL LETTER KAPPA}": "K",
    "\N{GREEK CAPITAL LETTER MU}": "M",
    "\N{GREEK CAPITAL LETTER NU}": "N",
    "\N{GREEK CAPITAL LETTER OMICRON}": "O",
    "\N{GREEK SMALL LETTER OMICRON}": "o",
    "\N{GREEK CAPITAL LETTER RHO}": "P",
    "\N{GREEK SMALL LETTER RHO}": "p",
    "\N{GREEK RHO SYMBOL}": "p",
    "\N{GREEK CAPITAL LETTER TAU}": "T",
    "\N{GREEK SMALL LETTER UPSILON}": "u",
    "\N{GREEK SMALL LETTER NU}": "v",
    "\N{GREEK CAPITAL LETTER CHI}": "X",
    "\N{GREEK CAPITAL LETTER UPSILON}": "Y",
    "\N{GREEK SMALL LETTER GAMMA}": "y",
    "\N{GREEK CAPITAL LETTER ZETA}": "Z",
}


def _case_closed(look_alikes: dict[str, str]) -> dict[str, str]:
    """The table with each letter's other case mapped alike (Cyrillic small ka as "k", since
    its capital reads "K"), so that a word in those scripts folds the same in capitals and in
    small letters. Where the other case has a look-alike of its own (Greek small nu reads "v",
    its capital "N"), each keeps what it is drawn like."""
    closed = dict(look_alikes)
    for char, latin in look_alikes.items():
        other = char.lower() if char.isupper() else char.upper()
        if len(other) == 1 and other != char and other not in look_alikes:
            closed[other] = latin.lower() if char.isupper() else latin.upper()
    return closed


_CONFUSABLES = str.maketrans(_case_closed(_LOOK_ALIKES))

# What is a word character for the boundaries, in RE2 syntax (its `\w` is ASCII only).
_NOT_WORD = r"[^\pL\pN\pM_]"
_SPACES = r"[\s\p{Z}]+"
# Letters and digits, as tokens for finding words spelled out letter by letter.
_TOKEN = re.compile(r"[^\W_]+")
# Between two letters of a spelled-out word: a space, a dot, a hyphen... a few at most.
_MAX_GAP = 3


def _strip_format(text: str) -> str:
    """Without format characters (Unicode category Cf): zero-width space and joiners, soft
    hyphen, word joiner, byte-order mark, direction marks. They are invisible, so people put
    them inside a word to break it for a matcher while it still reads the same."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _strip_stray_marks(text: str) -> str:
    """Without combining marks left on Latin letters after composition: "gore" with a stroke
    drawn through each letter (U+0338) reads as "gore". Letters that exist with their accent
    ("ö" in the Turkish "göre") keep it, and other scripts keep all their marks."""
    out: list[str] = []
    for ch in text:
        if out and out[-1].isascii() and unicodedata.category(ch) == "Mn":
            continue
        out.append(ch)
    return "".join(out)


def _fold_spelling(text: str, *, casefold: bool) -> str:
    text = _strip_format(unicodedata.normalize("NFKC", text))
    text = text.translate(_CONFUSABLES)
    if casefold:
        text = text.casefold()
    return _strip_stray_marks(text)


def normalize(text: str) -> str:
    """The form prompts and words are compared in: NFKC (full-width and styled letters become
    plain ones), format characters removed, Cyrillic and Greek look-alikes read as Latin,
    case folded, stray combining marks on Latin letters dropped."""
    return _fold_spelling(text, casefold=True)


def _spelled_out(text: str) -> list[str]:
    """Runs of single letters a few separators apart, joined: "the g o r e part" gives
    ["gore"], "g.o.r.e" gives ["gore"]; ordinary words ("go re-enter") give nothing."""
    runs: list[str] = []
    letters: list[str] = []
    end = -1
    for token in _TOKEN.finditer(text):
        single = len(token.group()) == 1
        if single and letters and token.start() - end <= _MAX_GAP:
            letters.append(token.group())
        else:
            if len(letters) > 1:
                runs.append("".join(letters))
            letters = [token.group()] if single else []
        end = token.end()
    if len(letters) > 1:
        runs.append("".join(letters))
    return runs


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    return options


@dataclass(frozen=True, slots=True)
class TermMatcher:
    """One banned term, compiled: `regexp` runs on normalised text; `letters` (a plain word or
    phrase only) is the term without spaces, looked for in words spelled out letter by letter."""

    regexp: re2._Regexp[str]
    letters: str | None

    def matches(self, text: str, spelled: list[str]) -> bool:
        """Whether the term occurs in the normalised text or in a word spelled letter by letter."""
        if self.regexp.search(text) is not None:
            return True
        return self.letters is not None and any(self.letters in run for run in spelled)


def compile_term(term: str) -> TermMatcher:
    """The matcher for one banned term; `InvalidRequest`, in plain words, when it cannot work."""
    term = term.strip()
    if not term or len(term) > MAX_TERM_CHARS:
        raise InvalidRequest(
            _("A banned term must be 1 to {most} characters.").format(most=MAX_TERM_CHARS)
        )
    if term.startswith(PATTERN_PREFIX):
        # Not case folded: that would change the pattern's meaning (`\S` would become `\s`).
        # RE2 ignores case instead; the text it runs on is already folded.
        pattern = _fold_spelling(term.removeprefix(PATTERN_PREFIX), casefold=False)
        if not pattern.strip():
            raise InvalidRequest(_("A pattern needs something after re: to look for."))
        options = _options()
        options.case_sensitive = False
        try:
            return TermMatcher(re2.compile(pattern, options), None)
        except re2.error as exc:
            raise InvalidRequest(_pattern_problem(exc)) from None
    words = normalize(term).split()
    if not words:
        raise InvalidRequest(_("A banned term needs at least one visible letter, digit or sign."))
    body = _SPACES.join(re2.escape(word) for word in words)
    regexp = re2.compile(f"(?:^|{_NOT_WORD})(?:{body})(?:{_NOT_WORD}|$)", _options())
    letters = "".join(words)
    spellable = len(letters) > 1 and all(_TOKEN.fullmatch(word) for word in words)
    return TermMatcher(regexp, letters if spellable else None)


def _pattern_problem(exc: re2.error) -> str:
    detail = exc.args[0] if exc.args else b""
    reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return _(
        "That pattern is not a valid regular expression for RE2, the engine the "
        "bot runs patterns with ({reason}). RE2 has no back-references (\\1) or "
        "look-around ((?=, (?!, (?<=) and repeats at most 1000 times; rewrite "
        "the pattern without them, or ban the plain words instead."
    ).format(reason=reason)


# How admins see a stored term that `BannedTerms` skips.
NOT_ENFORCED = N_("not enforced: RE2 cannot run it, replace it")


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
        self._compiled: OrderedDict[tuple[str, ...], tuple[TermMatcher, ...]] = OrderedDict()

    def matchers(self, terms: Iterable[str]) -> tuple[TermMatcher, ...]:
        """The compiled matchers of a term list, compiled once per distinct list."""
        key = tuple(terms)
        found = self._compiled.get(key)
        if found is not None:
            self._compiled.move_to_end(key)
            return found
        compiled: list[TermMatcher] = []
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
            normal = normalize(text)
            spelled = _spelled_out(normal)
            if any(matcher.matches(normal, spelled) for matcher in matchers):
                raise UserFacingError(_(REFUSAL), code="moderation")


def too_many_terms() -> InvalidRequest:
    """The refusal when a workspace already bans the most terms it may keep."""
    return InvalidRequest(
        _(
            "This workspace already bans {most} terms, the most it can keep. "
            "Unban one (or fold several into one re: pattern) before adding another."
        ).format(most=MAX_TERMS)
    )
