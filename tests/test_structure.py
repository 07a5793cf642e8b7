"""The architecture, checked: data flows one way through the modules, and only
the transport touches aiohttp on the request path."""

from __future__ import annotations

import ast
from pathlib import Path

import headoni_async

PACKAGE = Path(headoni_async.__file__).parent

# The flow, lowest first: arguments -> route -> request -> raw response ->
# error or model -> caller. A module may import only modules before it.
FLOW = [
    "_version",
    "_json",
    "_routes",
    "_errors",
    "_redact",
    "_config",
    "_protocol",
    "_page_structs",
    "_hotpath",
    "_models",
    "_retry",
    "_refs",
    "_cache",
    "_loopbind",
    "_hooks",
    "_ratelimit",
    "_transport",
    "_pager",
    "_watch",
    "_views",
    "_desk",
    "_filelock",
    "_checkpoint",
    "_export",
    "_mirror",
    "_sync",
    "otel",
    "cli",
]
# Modules that may import aiohttp: the seam itself, and the tools around the
# request path (the fake desk's web app, the CLI's fake-desk command).
MAY_IMPORT_AIOHTTP = {"_transport", "cli", "testing"}


def _modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent != PACKAGE
    }


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(package modules imported, top-level foreign packages imported), at any depth."""
    ours: set[str] = set()
    foreign: set[str] = set()
    here = name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            foreign |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                foreign.add((node.module or "").split(".")[0])
                continue
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = [*base, *(node.module or "").split(".")] if node.module else base
            if node.module is None:  # from . import _protocol
                ours |= {".".join([*target, alias.name]) for alias in node.names}
            else:
                ours.add(".".join(target))
    return {m for m in ours if m}, foreign


def test_no_module_imports_up_the_flow() -> None:
    modules = _modules()
    assert set(FLOW) <= set(modules), "a module of the flow was renamed: update FLOW"
    rank = {name: i for i, name in enumerate(FLOW)}
    for name in FLOW:
        ours, _ = _imports(name, modules[name])
        for target in ours:
            top = target.split(".")[0]
            if top in rank:
                assert rank[top] < rank[name], f"{name} imports {target}, which stands above it"


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: {t for t in _imports(name, path)[0] if t in modules} for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        assert name not in stack, f"import cycle: {' -> '.join((*stack, name))}"
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*stack, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_only_the_transport_imports_aiohttp() -> None:
    for name, path in _modules().items():
        if name.split(".")[0] in MAY_IMPORT_AIOHTTP:
            continue
        _, foreign = _imports(name, path)
        assert "aiohttp" not in foreign, f"{name} imports aiohttp: go through _transport"
