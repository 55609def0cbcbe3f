"""The shape of the house: the core stays free of chat platforms, provider adapters and
storage (only the composition root, `bot/app.py` and `bot/cli.py`, wires them in), and no
module of the project depends on itself through others."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Never imported anywhere in bot/, the composition root included.
PLATFORM_LIBRARIES = {"discord", "slack_bolt", "slack_sdk", "httpx"}
# Imported only by the composition root.
OUTER_LAYERS = {"adapters", "storage"}
COMPOSITION_ROOT = {"bot/app.py", "bot/cli.py"}
# The project's own packages, checked together for import cycles.
PROJECT_PACKAGES = ("bot", "adapters", "storage", "tests", "bench")


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


# --- no import cycles ---------------------------------------------------------------------
#
# Every import counts: at the top, inside a function, and under `if TYPE_CHECKING:` (a
# type-only import still says that one module needs the other to be understood). A package's
# `__init__.py` re-exporting its private modules is not a cycle of its modules: only the
# imports written in a module are its edges.


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    return {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module `name` loads, as deep as it is known (`a.b.func` -> `a.b`)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) if parts else None


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """For each project module, the project modules its own imports name."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(filter(None, (_known(alias.name, modules) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    # `from pkg import module` loads the module; `from mod import name`, mod.
                    target = _known(f"{source}.{alias.name}", modules)
                    if target is not None:
                        edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every import cycle worth naming, as `[a, b, ..., a]`: in each group of modules that
    depend on each other (strongly connected components, Tarjan's algorithm), the shortest
    cycle through each member, each cycle once."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(start: str) -> None:
        # Iterative, so that a long chain of imports never meets the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group: set[str] = set()
                    while True:
                        member = stack.pop()
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    found = {
        _from_first(_shortest_cycle(graph, group, member)) for group in groups for member in group
    }
    return sorted(list(cycle) for cycle in found)


def _shortest_cycle(graph: Mapping[str, set[str]], group: set[str], start: str) -> list[str]:
    """The shortest way from `start` back to itself, inside its group."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is on no cycle of {sorted(group)}")


def _from_first(cycle: list[str]) -> tuple[str, ...]:
    """The same cycle told from its alphabetically first module, so each is named once."""
    ring = cycle[:-1]
    turn = ring.index(min(ring))
    ring = ring[turn:] + ring[:turn]
    return (*ring, ring[0])


def test_no_module_of_the_project_imports_itself_through_others() -> None:
    found = cycles(import_graph(project_modules(ROOT, PROJECT_PACKAGES)))
    assert found == [], "import cycles (type-only imports included):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_the_cycle_check_finds_a_type_only_cycle_and_names_it(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.a import A\n", encoding="utf-8")
    (package / "a.py").write_text("from pkg.sub import b\nclass A: ...\n", encoding="utf-8")
    (package / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n",
        encoding="utf-8",
    )
    (package / "c.py").write_text("def f():\n    import pkg.a\n", encoding="utf-8")
    (package / "d.py").write_text("from pkg import a, c\n", encoding="utf-8")
    graph = import_graph(project_modules(tmp_path, ("pkg",)))
    assert graph["pkg.d"] == {"pkg.a", "pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_the_cycle_check_names_every_short_cycle_of_a_tangle() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "a"], ["b", "c", "b"]]
