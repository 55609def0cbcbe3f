"""The core stays free of chat platforms, provider adapters and storage (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Never imported anywhere in bot/, the composition root included.
PLATFORM_LIBRARIES = {"discord", "slack_bolt", "slack_sdk", "httpx"}
# Imported only by the composition root.
OUTER_LAYERS = {"adapters", "storage"}
COMPOSITION_ROOT = {"bot/app.py", "bot/cli.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def core_modules() -> list[Path]:
    return sorted((ROOT / "bot").rglob("*.py"))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_platform_provider_or_storage_module(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    forbidden = PLATFORM_LIBRARIES | (set() if relative in COMPOSITION_ROOT else OUTER_LAYERS)
    offending = sorted(name for name in imported_modules(path) if name.split(".")[0] in forbidden)
    assert offending == [], f"{relative} imports {offending}"


def test_the_check_sees_imports_in_any_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import discord.ext.commands\nfrom slack_sdk.web import WebClient\n"
        "def f():\n    import storage.sqlite\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == {"discord.ext.commands", "slack_sdk.web", "storage.sqlite"}


def test_there_is_a_core_to_check() -> None:
    names = {p.name for p in core_modules()}
    assert {"jobs.py", "ports.py", "catalog.py", "app.py"} <= names
