"""Every sentence the chat surfaces say comes from `bot.texts`, where localisation will plug in:
the adapters write none of their own, and `bot.texts` lists them all."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import texts

ROOT = Path(__file__).resolve().parent.parent
CHAT_ADAPTERS = sorted(
    [*(ROOT / "adapters/discord").glob("*.py"), *(ROOT / "adapters/slack").glob("*.py")]
)
# Calls whose words are for the operator or the log, never for people in chat.
NOT_FOR_CHAT = {
    "debug",
    "info",
    "warning",
    "error",
    "exception",
    "ConfigurationError",
    "DeliveryError",  # its first argument is the log's detail; `user_message` is for chat
    "RuntimeError",
    "TypeError",
    "ValueError",
}
# Three words or more, ending as a sentence ends.
SENTENCE = re.compile(r"\S+\s+\S+\s+\S+.*[.?!…]$", re.DOTALL)


def _literal(node: ast.expr) -> str | None:
    """The text of a string literal; an f-string's placeholders as `{}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _literal(body[0].value) is not None:
                found.add(id(body[0].value))
    return found


def _not_for_chat(tree: ast.Module) -> set[int]:
    """Literals inside calls whose words are for the log or the operator (the first argument
    only of a DeliveryError: its `user_message` is shown in chat)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in NOT_FOR_CHAT:
            continue
        args = node.args[:1] if name == "DeliveryError" else [*node.args, *node.keywords]
        for arg in args:
            found.update(id(inner) for inner in ast.walk(arg))
    return found


def sentences_in(path: Path) -> Iterator[tuple[int, str]]:
    """The string literals of a module that read as sentences people would see."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | _not_for_chat(tree)
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in inside_fstrings or not isinstance(node, ast.expr):
            continue
        text = _literal(node)
        if text is not None and SENTENCE.search(text.strip()):
            found.append((node.lineno, text))
    yield from sorted(found)


@pytest.mark.parametrize("path", CHAT_ADAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_chat_adapters_write_no_sentence_of_their_own(path: Path) -> None:
    found = [f"line {line}: {text!r}" for line, text in sentences_in(path)]
    assert found == [], f"{path.relative_to(ROOT)} says, outside bot.texts: {found}"


def test_the_check_finds_sentences_and_leaves_logs_and_labels_alone(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A module docstring is not said to anyone."""\n'
        "def f(name):\n"
        '    log.warning("could not do it: %s.", name)\n'
        '    raise ConfigurationError("Set DISCORD_TOKEN to the bot token.")\n'
        '    raise DeliveryError("post failed.", user_message="The bot may not post here.")\n'
        '    label = "Aspect ratio"\n'
        '    return f"{name} is not a PNG, JPEG or WebP image."\n',
        encoding="utf-8",
    )
    assert [text for _, text in sentences_in(sample)] == [
        "The bot may not post here.",
        "{} is not a PNG, JPEG or WebP image.",
    ]


def test_bot_texts_lists_every_sentence_as_a_function() -> None:
    # What localisation will translate: each public function of bot.texts returns words.
    functions = [
        name
        for name, value in inspect.getmembers(texts, inspect.isfunction)
        if value.__module__.startswith(f"{texts.__name__}.") and not name.startswith("_")
    ]
    assert len(functions) > 40
    for name in functions:
        assert inspect.signature(getattr(texts, name)).return_annotation in ("str", "str | None")
