"""PyTorch backend, names: the identifiers a generated file gives its classes and its tensors,
each valid Python and clashing with nothing else the file defines or uses."""

from __future__ import annotations

import ast
import keyword
import re

from incept_dsl.backends.fresh_names import first_free
from incept_dsl.backends.pytext import BUILTIN_NAMES
from incept_dsl.backends.torch import kernels


def _top_level_names(source: str) -> set[str]:
    """The names a module's source defines at its top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


#: Module-level names of a generated file (its imports and the -O2 kernel source): no class or
#: forward local may take one of them.
MODULE_GLOBALS = frozenset(
    {"NamedTuple", "torch", "F", "nn"} | _top_level_names(kernels.FUSED_CONV_SOURCE)
)


def class_name(model: str) -> str:
    """`inception_v3` -> `InceptionV3`; always a valid identifier that names nothing else the
    generated file defines or uses (`none` -> `NoneModel`, `f` -> `FModel`)."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", model) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if name[0].isdigit():
        name = "M" + name
    if keyword.iskeyword(name) or name in BUILTIN_NAMES or name in MODULE_GLOBALS:
        name += "Model"
    return name


def class_names(models: list[str]) -> list[str]:
    """One class name per model (`class_name`, numbered where two would clash), such that no
    class, `<class>Outputs` or `<class>EvalOutputs` of one model equals another's."""
    taken: set[str] = set()
    out: list[str] = []
    for model in models:
        base, k = class_name(model), 1
        name = base
        while {name, name + "Outputs", name + "EvalOutputs"} & taken:
            k += 1
            name = f"{base}{k}"
        taken |= {name, name + "Outputs", name + "EvalOutputs"}
        out.append(name)
    return out


class TensorNames:
    """Unique Python identifiers for tensors, derived from scopes."""

    RESERVED = {"self", "torch", "nn", "F", "NamedTuple", "x", "outputs", "target", "criterion"}

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.used: set[str] = set(self.RESERVED) | MODULE_GLOBALS | set(reserved)

    def fresh(self, base: str) -> str:
        name = re.sub(r"\W", "_", base.replace(".", "_"), flags=re.ASCII) or "t"
        if name[0].isdigit() or keyword.iskeyword(name) or name.startswith("__"):
            name = "t_" + name
        candidate = first_free(name, self.used)
        self.used.add(candidate)
        return candidate
