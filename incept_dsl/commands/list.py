"""`incept-dsl list`: the bundled architectures and their models."""

from __future__ import annotations

import argparse

HELP = "list the bundled architectures and their models"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from incept_dsl.frontend.parser import parse
    from incept_dsl.resources import bundled_architectures

    files = bundled_architectures()
    if not files:
        print("no bundled architectures")
        return 0
    for path in files:
        program = parse(path.read_text(encoding="utf-8"), path.name)
        models = ", ".join(m.name for m in program.models)
        print(f"{path.name:28} {models}")
    return 0
