"""Where the grammar and the bundled architectures live (inside the wheel, or in a checkout)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    """`incept_dsl/<name>` in an installed wheel, else `<repo>/<name>` in a source checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"incept-dsl is installed without its '{name}' folder")


def grammar_path() -> Path:
    return _find("grammars") / "incept.lark"


def architectures_dir() -> Path:
    return _find("architectures")


def bundled_architectures() -> list[Path]:
    """Every bundled `.incept` file, sorted by name."""
    try:
        return sorted(architectures_dir().glob("*.incept"))
    except FileNotFoundError:
        return []


def resolve_program_path(name: str | Path) -> Path:
    """`name` if it exists; else a bundled architecture of that file name (`googlenet.incept`).

    Returns `Path(name)` unchanged when neither exists, so the caller reports the missing file.
    """
    path = Path(name)
    if path.exists():
        return path
    if len(path.parts) == 1:
        try:
            base = architectures_dir()
        except FileNotFoundError:
            return path
        for candidate in (base / path.name, base / f"{path.name}.incept"):
            if candidate.is_file():
                return candidate
    return path
