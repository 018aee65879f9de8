"""Names that the generated code cannot carry, rejected where the program writes them.

A program's names become Python names in the PyTorch module (attributes, state_dict keys,
named-tuple fields) and node names in ONNX. Most names work in every backend as they are, and
the backends derive safe identifiers for the rest (a model `none` becomes the class `NoneModel`;
an input `class` the argument `t_class`). Four classes of name cannot be carried faithfully, and
`check_names` rejects them with a located error that says why:

- a name longer than `MAX_NAME_LENGTH` (256) characters, in every position (inputs included):
  Graphviz refuses over-long tokens, and no reader or tool is served by such a name;

- a name that starts with an underscore, for models, blocks, `as` scopes, branch labels and
  heads: Python mangles `__x` inside a class (the state_dict key would become `_M__x.weight`),
  named tuples refuse fields that start with `_`, and `_modules`-like names are torch's own;
- a Python keyword (`class`, `None`, `True`, ...) for an `as` scope, a branch label or a head:
  each becomes an attribute or a named-tuple field that Python cannot spell;
- an attribute of every `torch.nn.Module` (`forward`, `training`, `half`, `parameters`, ...) or
  of the generated class (`HEADS`, `INPUT_SHAPES`, `loss`, `reset_parameters`) for an `as` scope
  or a branch label: the layer registered under it would hide the method or be refused by torch.

The check needs no torch: the attribute list is written out here, and a test keeps it a superset
of the installed torch's `dir(nn.Module())`.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator

from incept_dsl.errors import InceptError, InceptErrors, InceptNameError
from incept_dsl.frontend import ast
from incept_dsl.source import Span

#: Public attributes of an `nn.Module` instance (torch 2.13) and of the generated module class.
MODULE_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        "HEADS",
        "INPUT_SHAPES",
        "loss",
        "reset_parameters",
    ]
)

#: What each kind of name position is called in messages: (as a subject, as an object).
_WHAT = {
    "model": ("model names", "a model"),
    "block": ("block names", "a block"),
    "scope": ("`as` names", "a scope"),
    "label": ("branch labels", "a branch"),
    "output": ("output names", "an output"),
    "aux": ("aux head names", "an aux head"),
    "input": ("input names", "an input"),
}

#: The longest name a program may write (models, blocks, inputs, `as` scopes, labels, heads).
#: Generated code carries every name, and Graphviz refuses a figure whose tokens run past 16 KiB.
MAX_NAME_LENGTH = 256


def name_problem(kind: str, name: str) -> str | None:
    """Why `name` cannot be used in a position of `kind` (a key of `_WHAT`), or None if it can."""
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"{_WHAT[kind][0]} can be at most {MAX_NAME_LENGTH} characters long: "
            f"'{name[:20]}...' has {len(name)}"
        )
    if name.startswith("_") and kind != "input":
        return (
            f"{_WHAT[kind][0]} must start with a letter: '{name}' starts with an underscore, "
            "which Python hides or mangles in the generated module"
        )
    if kind in ("scope", "label", "output", "aux") and keyword.iskeyword(name):
        return f"'{name}' is a Python keyword and cannot name {_WHAT[kind][1]}: it becomes " + (
            "a named-tuple field" if kind in ("output", "aux") else "a PyTorch module attribute"
        )
    if kind in ("scope", "label") and name in MODULE_ATTRIBUTES:
        return (
            f"'{name}' cannot name {_WHAT[kind][1]}: it is an attribute of every torch.nn.Module "
            "(or of the generated module), which a layer registered under it would hide"
        )
    return None


def _suggestion(kind: str, name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        return "use a shorter name"
    candidate = name.lstrip("_") or "x"
    if candidate == name or name_problem(kind, candidate) is not None:
        candidate += "_1"
    return f"rename it, e.g. '{candidate}'"


def _pipeline_names(p: ast.Pipeline) -> Iterator[tuple[str, str, Span]]:
    for element in p.elements:
        yield from _element_names(element)


def _element_names(e: ast.Element) -> Iterator[tuple[str, str, Span]]:
    if isinstance(e, ast.Named):
        yield "scope", e.name, e.name_span
        yield from _element_names(e.element)
    elif isinstance(e, ast.Branches):
        for b in e.branches:
            if b.label is not None and b.label_span is not None:
                yield "label", b.label, b.label_span
            yield from _pipeline_names(b.pipeline)
    elif isinstance(e, ast.Residual | ast.Repeat):
        yield from _pipeline_names(e.body)
    elif isinstance(e, ast.Group):
        yield from _pipeline_names(e.pipeline)


def _block_names(b: ast.BlockDef) -> Iterator[tuple[str, str, Span]]:
    yield "block", b.name, b.name_span
    yield from _pipeline_names(b.body)


def program_names(program: ast.Program) -> Iterator[tuple[str, str, Span]]:
    """Every (kind, name, span) of the program that reaches generated code as a name."""
    for b in program.blocks:
        yield from _block_names(b)
    for m in program.models:
        yield "model", m.name, m.name_span
        for stmt in m.body:
            if isinstance(stmt, ast.BlockDef):
                yield from _block_names(stmt)
            elif isinstance(stmt, ast.InputStmt):
                yield "input", stmt.name, stmt.name_span
            elif isinstance(stmt, ast.Bind):
                if stmt.kind in ("output", "aux"):
                    yield stmt.kind, stmt.name, stmt.name_span
                yield from _pipeline_names(stmt.pipeline)


def check_names(program: ast.Program) -> None:
    """Raise every name of `program` that the backends cannot carry (see the module docstring),
    each located at the name, all in one `InceptErrors` when there are several."""
    errors: list[InceptError] = []
    for kind, name, span in program_names(program):
        problem = name_problem(kind, name)
        if problem is not None:
            errors.append(InceptNameError(problem, span, hint=_suggestion(kind, name)))
    if errors:
        raise InceptErrors.of(errors)
