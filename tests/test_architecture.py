"""The package's import graph: no cycles, and imports run one way through the layers.

Layers, outermost first (docs/DESIGN.md): app, cli -> web -> schema.root -> resolvers ->
schema types, context, loaders -> live -> domain -> models. Read from the source with `ast`,
so nothing is imported; imports under `if TYPE_CHECKING:` are ignored (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "milestones"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    body: list[ast.stmt], module: str, known: set[str], top_level: bool
) -> Iterator[tuple[str, bool]]:
    """(imported milestones module, imported at module level) for every import that runs."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, module, known, top_level)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "milestones":
                    yield alias.name, top_level
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            if base.split(".")[0] != "milestones":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in known else base), top_level
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.AST):
                # A function body runs when called; a class body or an `if` runs at import.
                runs_later = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                yield from _imports(inner, module, known, top_level and not runs_later)


def import_graph(root: Path = PACKAGE) -> dict[str, list[tuple[str, bool]]]:
    """Every module of the package, with the package modules it imports."""
    files = {_module_name(path, root): path for path in root.rglob("*.py")}
    known = set(files)
    return {
        module: list(_imports(ast.parse(path.read_text()).body, module, known, True))
        for module, path in files.items()
    }


def find_cycle(
    graph: dict[str, list[tuple[str, bool]]], module_level_only: bool = True
) -> list[str] | None:
    """One cycle among module-level imports (or among all that run), or None."""
    edges = {
        module: sorted(
            {
                target
                for target, top in imports
                if (top or not module_level_only) and target in graph
            }
        )
        for module, imports in graph.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in edges[module]:
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


# (who, may never import): every import that runs counts, function-level ones included.
FORBIDDEN: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (
        ("milestones.models",),
        (
            "milestones.domain",
            "milestones.schema",
            "milestones.resolvers",
            "milestones.web",
            "milestones.live",
            "milestones.observability",
        ),
    ),
    (
        ("milestones.domain",),
        ("milestones.schema", "milestones.resolvers", "milestones.web", "milestones.live"),
    ),
    (
        ("milestones.live",),
        ("milestones.resolvers", "milestones.web", "milestones.schema.root", "milestones.app"),
    ),
    (
        ("milestones.schema",),
        ("milestones.resolvers", "milestones.web", "milestones.app"),
    ),
    (("milestones.resolvers",), ("milestones.web", "milestones.schema.root", "milestones.app")),
    (
        ("milestones.observability",),
        (
            "milestones.schema",
            "milestones.resolvers",
            "milestones.web",
            "milestones.live",
            "milestones.domain",
        ),
    ),
    (("milestones.web",), ("milestones.app", "milestones.cli")),
    # The webhook sender works beside the app, like the email outbox: below the HTTP front.
    (
        ("milestones.webhooks",),
        ("milestones.schema", "milestones.resolvers", "milestones.web", "milestones.app"),
    ),
]
# schema.root assembles the schema from the resolvers: the one module of schema/ above them.
ALLOWED = {("milestones.schema.root", "milestones.resolvers")}


def layer_violations(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    found = []
    for module, imports in sorted(graph.items()):
        for target, _ in imports:
            for who, never in FORBIDDEN:
                if not _under(module, who) or not _under(target, never):
                    continue
                if any(module == a and _under(target, (b,)) for a, b in ALLOWED):
                    continue
                found.append(f"{module} imports {target}")
    return sorted(set(found))


def test_no_import_cycle_among_the_package_modules() -> None:
    assert find_cycle(import_graph()) is None


def test_no_cycle_hidden_behind_a_function_level_import() -> None:
    # schema/types.py once imported resolvers/pagination.py inside a resolver: still a circle.
    assert find_cycle(import_graph(), module_level_only=False) is None


def test_imports_run_one_way_through_the_layers() -> None:
    assert layer_violations(import_graph()) == []


def test_the_checks_see_the_whole_package() -> None:
    graph = import_graph()
    # A check that reads nothing passes everything: make sure it reads the real package.
    assert {"milestones.schema.root", "milestones.live.fanout", "milestones.domain.escrow"} <= set(
        graph
    )
    assert ("milestones.resolvers.queries", True) in graph["milestones.schema.root"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "milestones" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "milestones"


def test_a_cycle_is_found_and_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from milestones import b\n",
            "b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from milestones import a\n"
            ),
            "c.py": "def f():\n    from milestones import a\n",
        },
    )
    assert find_cycle(import_graph(root)) is None
    assert find_cycle(import_graph(root), module_level_only=False) is None
    (root / "b.py").write_text("def g():\n    from milestones import a\n")
    assert find_cycle(import_graph(root)) is None
    assert find_cycle(import_graph(root), module_level_only=False) is not None
    (root / "b.py").write_text("import milestones.a\n")
    assert find_cycle(import_graph(root)) == ["milestones.a", "milestones.b", "milestones.a"]


@pytest.mark.parametrize(
    ("module", "text"),
    [
        ("domain/x.py", "def f():\n    from milestones.schema import types\n"),
        ("live/x.py", "from milestones.resolvers.loaders import Loaders\n"),
        ("schema/context.py", "from milestones.resolvers import loaders\n"),
        ("models/x.py", "from milestones.domain import rules\n"),
    ],
)
def test_a_layer_violation_is_found(tmp_path: Path, module: str, text: str) -> None:
    root = _write(tmp_path, {"__init__.py": "", module: text})
    assert layer_violations(import_graph(root)) != []
