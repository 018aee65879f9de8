"""The package keeps the compiler's diagram: small modules, short functions, and imports that
point one way (backends never reach back into the command line, the model, the driver or the
passes; the front end never reaches into the IR)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "incept_dsl"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_and_functions_are_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{_name(path)} has over {MAX_MODULE_LINES} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{_name(path)}:{node.lineno} {node.name}"


#: package prefix -> modules it must never import
FORBIDDEN = {
    "incept_dsl.backends": (
        "argparse",
        "incept_dsl.model",
        "incept_dsl.driver",
        "incept_dsl.passes",
        "incept_dsl.commands",
        "incept_dsl.cli",
        "incept_dsl.api",
    ),
    "incept_dsl.passes": ("incept_dsl.backends", "incept_dsl.model", "incept_dsl.driver"),
    "incept_dsl.ir": ("incept_dsl.backends", "incept_dsl.passes", "incept_dsl.model"),
    "incept_dsl.frontend": ("incept_dsl.ir", "incept_dsl.backends", "incept_dsl.passes"),
}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_imports_point_one_way(path: Path) -> None:
    name = _name(path)
    for package, banned in FORBIDDEN.items():
        if name == package or name.startswith(package + "."):
            bad = sorted(
                m for m in _imports(path) for b in banned if m == b or m.startswith(b + ".")
            )
            assert not bad, f"{name} imports {bad}"


def test_only_the_driver_runs_the_pipeline() -> None:
    callers = [
        _name(p)
        for p in MODULES
        if "run_pipeline(" in p.read_text(encoding="utf-8") and p.name != "__init__.py"
    ]
    assert callers == ["incept_dsl.driver"]
