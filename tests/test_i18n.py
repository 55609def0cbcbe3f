"""The message catalogs (`bot.i18n`): every sentence the code says is in every language with
the same placeholders, no sentence is formatted by hand outside the catalogs, and numbers,
money and dates are written for the reader's locale."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n, money, texts
from bot.i18n import _, ngettext
from bot.money import Currency, shown_in
from bot.terminal_markup import TERMINAL
from bot.texts._markup import joined

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "bot" / "locale"
TRANSLATED = [name for name in i18n.SUPPORTED if name != i18n.DEFAULT]
# What `make messages` passes to `pybabel extract` (Makefile), beyond Babel's defaults.
KEYWORDS = {
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "NC_": ((1, "c"), 2),
}


# --- negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "spoken"),
    [
        ("de-DE", "de"),
        ("de_DE.UTF-8", "de"),
        ("pt-BR", "pt_BR"),
        ("pt_PT", "pt_BR"),
        ("ja", "ja"),
        ("ja_JP.UTF-8", "ja"),
        ("es-419", "es"),
        ("es-ES", "es"),
        ("fr", "fr"),
        ("en-GB", "en"),
        ("zh-CN", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_a_platforms_or_terminals_locale_becomes_one_the_bot_speaks(
    asked: str | None, spoken: str
) -> None:
    assert i18n.negotiate_or_default(asked) == spoken


def test_using_speaks_a_language_inside_the_block_only() -> None:
    with i18n.using("de-DE") as chosen:
        assert chosen == "de" and i18n.current() == "de"
        with i18n.using("ja"):
            assert i18n.current() == "ja"
        assert i18n.current() == "de"
    assert i18n.current() == "en"


# --- the catalogs -------------------------------------------------------------------------


def code_messages() -> dict[tuple[str | None, str], Message]:
    """Every message the code marks, as `make messages` extracts it: (context, msgid)."""
    found: dict[tuple[str | None, str], Message] = {}
    for folder in ("bot", "adapters"):
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            msgid = message if isinstance(message, str) else message[0]
            if isinstance(found.get((context, msgid), Message("")).id, tuple):
                continue  # a sentence used alone and with a count is the one with a count
            found[(context, msgid)] = Message(message, context=context)
    return found


def catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def parts(value: object) -> tuple[str, ...]:
    """A message's id or string as a tuple of forms (one, or one per plural form)."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(part) for part in value) if isinstance(value, tuple | list) else ("",)


def translated(locale: str, msgid: str) -> tuple[str, ...]:
    """What the catalog of `locale` says for `msgid`, a form per plural form."""
    entry = catalog(locale).get(msgid)
    assert entry is not None, f"{locale} has no {msgid!r}"
    return parts(entry.string)


def fields(text: str) -> set[str]:
    """The placeholders of a sentence (`{name}`), as `str.format` reads them."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_code_marks_hundreds_of_sentences() -> None:
    messages = code_messages()
    assert len(messages) > 500
    assert (None, "Queued") in messages
    assert ("discord name", "veo-quota") in messages


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_sentence_the_code_uses_is_translated_with_the_same_placeholders(
    locale: str,
) -> None:
    translations = catalog(locale)
    problems: list[str] = []
    for (context, msgid), message in sorted(
        code_messages().items(), key=lambda item: (item[0][0] or "", item[0][1])
    ):
        entry = translations.get(msgid, context=context)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy (not used): {msgid!r}")
            continue
        ids = parts(message.id)
        strings = parts(entry.string)
        plural = isinstance(message.id, tuple)
        if not all(strings) or (plural and len(strings) < translations.num_plurals):
            problems.append(f"untranslated: {msgid!r}")
            continue
        # Each form may leave out what the singular does ("your video" for one of {made});
        # none adds a placeholder, and the last form (any count) has those of the plural.
        expected = set().union(*(fields(part) for part in ids))
        for said in strings:
            if not fields(said) <= expected:
                problems.append(f"placeholders {sorted(fields(said))} in {said!r} for {msgid!r}")
        if fields(strings[-1]) != fields(ids[-1]) and not fields(ids[-1]) <= fields(strings[-1]):
            problems.append(f"placeholders of {strings[-1]!r} differ from {ids[-1]!r}")
    assert problems == [], f"{locale}: {len(problems)} problems:\n" + "\n".join(problems[:40])


def test_no_sentence_is_both_alone_and_with_a_count() -> None:
    """gettext finds a sentence said with `ngettext` only through `ngettext`: the same words
    in `_()` elsewhere would never be translated."""
    alone: set[str] = set()
    counted: set[str] = set()
    for folder in ("bot", "adapters"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            (alone if isinstance(message, str) else counted).add(
                message if isinstance(message, str) else message[0]
            )
    assert alone & counted == set()


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_translation_formats_with_the_codes_values(locale: str) -> None:
    """A translation with a stray brace or a bad field fails at `str.format`; it must not fail
    in front of people."""
    for message in catalog(locale):
        if not message.id or message.fuzzy:
            continue
        strings = parts(message.string)
        ids = parts(message.id)
        values = {name: "x" for part in ids for name in fields(part)}
        for said in strings:
            if said and values:
                said.format(**values)


def test_a_catalog_is_read_from_its_po_file_without_a_build_step() -> None:
    english = "Delete this video?"
    for locale in TRANSLATED:
        [said] = translated(locale, english)
        with i18n.using(locale):
            assert _(english) == said != english
    assert not list(LOCALE_DIR.rglob("*.mo"))


def test_plural_forms_follow_each_language() -> None:
    singular = "Spend per day in {month}, {people} person, in {currency} (only you can see this)."
    plural = "Spend per day in {month}, {people} people, in {currency} (only you can see this)."
    german = translated("de", singular)
    with i18n.using("de"):
        assert ngettext(singular, plural, 1) == german[0]
        assert ngettext(singular, plural, 3) == german[1]
    japanese = translated("ja", singular)
    with i18n.using("ja"):
        assert ngettext(singular, plural, 1) == ngettext(singular, plural, 3) == japanese[0]


# --- numbers, money and dates -------------------------------------------------------------


def test_numbers_money_and_dates_are_written_for_the_reader() -> None:
    with shown_in(Currency.of("EUR", "0.9")):
        with i18n.using("de"):
            assert i18n.seconds(7.5) == _("{seconds} s").format(seconds="7,5")
            assert money.fmt(1_200_000) == "1,08\xa0€"
            assert i18n.whole(1_000_000) == "1.000.000"
            assert i18n.utc(0).startswith("01.01.70")
        with i18n.using("ja"):
            assert money.fmt(1_200_000) == "€1.08"
        with i18n.using("en"):
            assert money.fmt(1_200_000) == "€1.08"
            assert i18n.utc(0) == "1970-01-01 00:00 UTC"
    with i18n.using("fr"):
        assert money.fmt(1_200_000) == "1,20\xa0$US"
    with i18n.using("pt-BR"):
        assert texts.spent(3_600_000) == "US$\xa03,60"


def test_a_list_is_joined_as_the_language_joins_it() -> None:
    assert joined(["a", "b", "c"]) == "a, b and c"
    with i18n.using("de"):
        assert joined(["a", "b", "c"]) == "a, b und c"
    with i18n.using("ja"):
        assert joined(["a", "b", "c"]) == "a、b、c"


def test_the_terminal_names_its_workspace_in_the_readers_language() -> None:
    with i18n.using("de"):
        assert TERMINAL.workspace == translated("de", "workspace")[0]


# --- no sentence formatted by hand --------------------------------------------------------
#
# The rule: in the core (bot/, bot/texts/) and the chat and terminal surfaces
# (adapters/discord, adapters/slack, adapters/console.py), a string literal or f-string that
# holds words ("Xx yy": a word, a space, a lower-case word) is a sentence, and a sentence must
# be inside `_`, `N_`, `ngettext`, `pgettext` or `NC_`. Not sentences for people: docstrings;
# what goes to the log (logging calls, `detail=`, `during=`, the first argument of the
# exceptions and wrappers below that only ever reach the log); metric help; programmer errors.
# What remains is the reviewed list `ALLOWED`, each with its reason. Provider adapters
# (adapters/providers) are outside the rule: they mark their sentences for people with `N_`
# but also hold model descriptions, provider prompts and the providers' own words.

CHECKED = ("bot", "adapters/discord", "adapters/slack", "adapters/console.py")
SENTENCE = re.compile(r"[A-Za-z]{2,}[,;:.!?]? [a-z]{2,}")
MARKED = {"_", "N_", "ngettext", "pgettext", "NC_"}
LOGGING = {"debug", "info", "warning", "error", "exception", "critical"}
METRICS = {"count", "observe", "gauge", "render"}
# Answers to providers' and Slack's servers, not to people.
FOR_PROGRAMS = {"HTTPGone", "HTTPBadRequest", "HTTPServiceUnavailable", "HTTPUnauthorized"}
PROGRAMMER_ERRORS = {
    "ValueError",
    "TypeError",
    "RuntimeError",
    "KeyError",
    "NotImplementedError",
}
# Calls whose positional arguments only reach the log or another program.
LOG_ONLY_ARGS = {
    "DeliveryError",  # its message is logged; people get `user_message=`
    "CannotFit",  # why a video could not be re-encoded, logged
    "InvalidSignature",  # why a webhook was refused, answered to the provider
    "FitStopped",
    "delivery_error",  # what the Slack surface was doing, for the log
    "delivery_errors",  # what the Discord surface was doing, for the log
    "slack_call",  # what the Slack surface was doing, for the log
    "_set_card",
    "set_card",
    "code",  # `markup.code(...)`: commands as they are typed
}
LOG_ONLY_KEYWORDS = {"detail", "during", "action", "metavar", "origin"}
ALLOWED = {
    ("adapters/discord/_cards.py", "veo job {}"): "the job's mark quoted to admins, as it is",
    ("adapters/slack/_blocks.py", "Video for job {}:"): "how a restarted bot finds its card",
    ("adapters/discord/_translator.py", "discord name"): "a catalog context",
    ("adapters/slack/_errors.py", "{}: Slack answered {} {}"): "a log detail",
    ("bot/cli.py", "veo-bot history --user {} --before {}"): "a command to type",
    ("bot/texts/_admin.py", "limits @user daily=60 concurrent=3 daily-usd=5"): "syntax",
    ("bot/texts/_admin.py", "limits workspace monthly=3600 daily=40 monthly-usd=200"): "syntax",
    ("bot/texts/_admin.py", "ban <word or re:pattern>"): "syntax",
    ("bot/texts/_admin.py", "channel list|show|allow|close|set|reset"): "syntax",
    ("bot/texts/_admin.py", "language de|en|es|fr|ja|pt_BR|off"): "syntax",
    (
        "bot/texts/_channels.py",
        "set #channel|all model=<provider/model> aspect=16:9 private=on daily=120 people={}",
    ): "syntax",
    ("bot/usage_chart.py", "upper left"): "a matplotlib legend position",
    ("bot/web.py", 'inline; filename="veo-{}.mp4"'): "an HTTP header",
}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def hand_formatted(path: Path) -> Iterator[tuple[int, str]]:
    """The sentences in `path` written outside the catalogs: (line, text with `{}` where
    values go)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if (
            isinstance(node, ast.Tuple)
            and node.elts
            and isinstance(node.elts[0], ast.Constant)
            and re.fullmatch(r"veo_[a-z_]+", str(node.elts[0].value))
        ):
            skip.update(id(inner) for inner in ast.walk(node))  # (metric name, its help)
        if isinstance(node, ast.Assert) and node.msg is not None:
            skip.update(id(inner) for inner in ast.walk(node.msg))  # for programmers
        if not isinstance(node, ast.Call):
            continue
        called = _called(node)
        if called in MARKED | LOGGING | METRICS | PROGRAMMER_ERRORS | FOR_PROGRAMS:
            skip.update(id(inner) for inner in ast.walk(node))
        if called in LOG_ONLY_ARGS:
            skip.update(id(inner) for arg in node.args for inner in ast.walk(arg))
        for keyword in node.keywords:
            if keyword.arg in LOG_ONLY_KEYWORDS:
                skip.update(id(inner) for inner in ast.walk(keyword.value))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(inner) for inner in ast.walk(node))
            text = "".join(
                str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SENTENCE.search(text):
            yield node.lineno, text


def checked_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        where = ROOT / name
        files.extend(sorted(where.rglob("*.py")) if where.is_dir() else [where])
    return files


def test_no_sentence_is_formatted_by_hand_outside_the_catalogs() -> None:
    found = []
    for path in checked_files():
        relative = path.relative_to(ROOT).as_posix()
        for line, text in hand_formatted(path):
            if (relative, text) not in ALLOWED:
                found.append(f"{relative}:{line}: {text!r}")
    assert found == [], "write these with _() / ngettext() (bot.i18n):\n" + "\n".join(found)


def test_every_allowed_exception_is_still_there() -> None:
    """The allowlist shrinks with the code: an entry that no longer matches is removed."""
    seen = {
        (path.relative_to(ROOT).as_posix(), text)
        for path in checked_files()
        for _line, text in hand_formatted(path)
    }
    assert set(ALLOWED) <= seen


def test_the_check_sees_a_sentence_glued_or_formatted_by_hand(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A module."""\n'
        "from bot.i18n import _\n"
        "def f(n, log):\n"
        '    """A docstring is not said to anyone."""\n'
        '    log.info("job %s went well", n)\n'
        '    ok = _("Queued as job {job}.").format(job=n)\n'
        '    glued = ok + " Please wait a moment."\n'
        '    return f"You have {n} videos left", glued, "veo_jobs_total"\n',
        encoding="utf-8",
    )
    assert sorted(text for _line, text in hand_formatted(sample)) == [
        " Please wait a moment.",
        "You have {} videos left",
    ]
