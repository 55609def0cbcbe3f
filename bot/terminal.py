"""What the `veo-bot` command shows a terminal: its exit codes, its error line, and text that
came from people (prompts, names, banned terms) made harmless to print."""

from __future__ import annotations

import re
import sys

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3  # quota spent, user blocked, or wording the workspace bans
EXIT_CONFIG = 4
EXIT_UNHEALTHY = 1  # `doctor`: some provider is not fit to take requests

# What a terminal obeys instead of showing: C0 and C1 controls and DEL (ESC starts colour,
# title and screen-clearing sequences; CR and BEL too), line and paragraph separators, and
# Unicode's bidirectional marks, overrides and isolates, which reorder what is shown.
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """Text that came from people (prompts, names, terms) as a terminal shows it harmlessly:
    each control character as a visible escape (`\\x1b`, `\\u202e`)."""
    return _CONTROLS.sub(lambda m: ascii(m.group())[1:-1], text)


def fail(message: str, code: int) -> int:
    """Say what went wrong on stderr, as `veo-bot: ...`; the exit code to end with."""
    print(f"veo-bot: {printable(message)}", file=sys.stderr)
    return code
