"""Options shared by the subcommands that load a model (FILE, --model, --set, --input, -O)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from incept_dsl.errors import UsageError


def add_model_arguments(
    p: argparse.ArgumentParser, many: bool = False, opt_levels: bool = True
) -> None:
    p.add_argument(
        "file",
        nargs="+" if many else None,
        metavar="FILE",
        help="an .incept file, or the name of a bundled architecture (e.g. googlenet.incept)",
    )
    p.add_argument(
        "--model", "-m", metavar="NAME", help="the model to use when the file has several"
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="K=V",
        help="override a model parameter (repeatable), e.g. --set classes=100",
    )
    p.add_argument(
        "--input",
        dest="input_shape",
        metavar="CxHxW",
        help="override the (single) input's shape, e.g. 3x299x299",
    )
    if opt_levels:
        g = p.add_mutually_exclusive_group()
        for level in (0, 1, 2):
            g.add_argument(
                f"-O{level}",
                dest="opt_level",
                action="store_const",
                const=level,
                help={
                    0: "no optimisation (canonical, trainable form)",
                    1: "exact structural optimisations",
                    2: "everything within 1e-4 of -O0 (layouts, kernels)",
                }[level],
            )
        p.set_defaults(opt_level=None)


def parse_sets(sets: list[str]) -> dict[str, Any]:
    from incept_dsl.api import parse_value

    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or not value.strip():
            raise UsageError(f"--set takes NAME=VALUE, e.g. --set classes=100; got {item!r}")
        out[key] = parse_value(value.strip())
    return out


def load_model(args: argparse.Namespace, file: str | None = None):
    """The model the arguments name (`args.file`, `--model`, `--set`, `--input`)."""
    from incept_dsl.api import load, parse_shape

    shape = parse_shape(args.input_shape) if getattr(args, "input_shape", None) else None
    return load(
        program_file(file or args.file),
        model=args.model,
        params=parse_sets(args.sets),
        input_shape=shape,
    )


def program_file(name: str) -> str:
    """The FILE argument, checked: an empty name, a missing file or a folder is a usage mistake
    (exit 2, as in every command); a file that exists is read (and reported) by the loader."""
    from incept_dsl.api_args import display_path
    from incept_dsl.resources import resolve_program_path

    if name == "":
        raise UsageError("no file named ''")
    path = resolve_program_path(name)
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except (OSError, ValueError):  # a name the OS cannot look up: the loader says why
        return name
    if is_dir:
        raise UsageError(f"{display_path(name)} is a directory, not an .incept file")
    if not exists and not path.is_symlink():
        raise UsageError(f"no such file: {display_path(name)}")
    return name


def output_path(args: argparse.Namespace, model_name: str, suffix: str) -> Path:
    """`-o OUT` if given, else `<model>.<suffix>` in the working directory."""
    if getattr(args, "output", None):
        return Path(args.output)
    return Path(f"{model_name}{suffix}")
