"""Elaboration ends within bounded work: `MAX_WORK` steps and `MAX_NODES` nodes, for every program.

The class of fault: a construct that multiplies work without adding nodes (nested repeats of
`identity`, blocks that apply a block twice per level, `expect`s, groups) escaped the node limit
and ran for ever, or exhausted memory. Here every nesting of the multiplying constructs — found by
hypothesis as well as written out — must end in a model or a located `InceptLimitError` that says
which limit, quickly; the shipped architectures stay far below both limits; and the lower bounds
that let a blow-up fail before it starts never exceed what elaboration really does.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incept_dsl.errors import InceptError, InceptErrors, InceptLimitError
from incept_dsl.frontend.loader import Loader
from incept_dsl.ir.build import MAX_NODES, MAX_WORK, Elaborator
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.resources import bundled_architectures

ensure_recursion_limit()


def _elaborate(text: str, name: str = "limits.incept") -> tuple[Elaborator, InceptError | None]:
    """Elaborate the file's only model; the elaborator (for its counters) and the error, if any."""
    unit = Loader().load_text(text, name, Path.cwd())
    (m,) = unit.program.models
    e = Elaborator(unit, m, None, None)
    try:
        e.build()
    except InceptError as err:
        return e, err
    return e, None


def _errors(err: InceptError) -> list[InceptError]:
    return err.errors if isinstance(err, InceptErrors) else [err]


# ---- the shipped architectures stay far below the limits ----------------------------------------
_MODELS = [
    (p, m.name) for p in bundled_architectures() for m in Loader().load_path(p).program.models
]


@pytest.mark.parametrize(("path", "model"), _MODELS, ids=[f"{p.stem}-{m}" for p, m in _MODELS])
def test_shipped_architectures_take_a_small_share_of_the_limits(path: Path, model: str) -> None:
    unit = Loader().load_path(path)
    (m,) = [m for m in unit.program.models if m.name == model]
    e = Elaborator(unit, m, None, None)
    g = e.build()
    assert e.work <= MAX_WORK // 100, e.work  # inception_resnet_v2, the largest: about 1,300
    assert len(g) <= MAX_NODES // 100


# ---- the examples of the issue, each in a process of its own with a time limit ------------------
def _doubling(body: str, join: str, levels: int = 40, hidden: bool = False) -> str:
    lines = [f"block e0 = {body}"]
    for i in range(1, levels + 1):
        callee = "f" if hidden else f"e{i - 1}"
        params = f"(f = e{i - 1})" if hidden else ""
        inner = {
            "concat": f"concat {{ {callee}; {callee} }}",
            "add": f"add {{ {callee}; {callee} }}",
            "group": f"({callee} -> {callee})",
            "residual": f"residual {{ {callee} -> {callee} }}",
        }[join]
        lines.append(f"block e{i}{params} = {inner}")
    return (
        "\n".join(lines) + f"\nmodel m {{\n    input x: 3x8x8\n    output y = x -> e{levels}\n}}\n"
    )


_TRIPLE = (
    "model m {\n    input x: 3x8x8\n"
    "    output y = x -> repeat(10000) { repeat(10000) { repeat(10000) { identity } } }\n}\n"
)


def _check_in_subprocess(tmp_path: Path, text: str, timeout: float = 20) -> tuple[str, float]:
    path = tmp_path / "blowup.incept"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "incept_dsl", "check", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    took = time.perf_counter() - start
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    return run.stderr, took


def test_nested_repeats_of_identity_fail_at_the_outermost_repeat(tmp_path: Path) -> None:
    out, _ = _check_in_subprocess(tmp_path, _TRIPLE)
    head = out.splitlines()[0]
    assert head.startswith("blowup.incept:3:28: error: repeat(10000) expands to at least")
    assert f"the limit for a model is {MAX_WORK:,}" in head


@pytest.mark.parametrize("hidden", [False, True], ids=["lexical", "through-parameters"])
def test_blocks_doubling_forty_times_hit_a_limit_quickly(tmp_path: Path, hidden: bool) -> None:
    # without an error: 2**40 copies; it reached 5.9 GB and an internal error before
    out, took = _check_in_subprocess(tmp_path, _doubling("identity", "concat", hidden=hidden))
    assert "error: " in out and ("limit for a model is" in out), out
    assert out.count("error:") == 1
    if not hidden:  # a lower bound sees the blow-up before elaborating anything
        assert out.startswith("blowup.incept:44:21: error: block 'e40' makes at least")
        assert took < 10


@pytest.mark.parametrize("hidden", [False, True], ids=["lexical", "through-parameters"])
def test_an_error_deep_in_doubling_blocks_is_reported_once(tmp_path: Path, hidden: bool) -> None:
    # error recovery used to re-check every copy: 30 s and 2 GB, doubling per level
    out, took = _check_in_subprocess(
        tmp_path, _doubling("relu -> covn(8, 3)", "concat", hidden=hidden)
    )
    assert out.count("unknown op or block 'covn'") == 1, out
    assert took < 10


# ---- every nesting of the multiplying constructs ends, within the limits ------------------------
_BODIES = ["identity", "expect(3x8x8)", "relu", "(identity)", "identity as named", "scale(1.5)"]


@st.composite
def nestings(draw) -> str:
    """Blocks that apply the block before them (or an op) two or three times, through a join, a
    group, a residual or a repeat; a model applies the last, inside more repeats and joins."""
    lines: list[str] = []
    callee = draw(st.sampled_from(_BODIES))
    for i in range(draw(st.integers(2, 24))):
        uses = [callee] * draw(st.integers(2, 3))
        shape = draw(st.sampled_from(["concat", "add", "group", "group", "repeat", "residual"]))
        if shape in ("concat", "add"):
            body = f"{shape} {{ {'; '.join(uses)} }}"
        elif shape == "repeat":
            body = f"repeat({draw(st.sampled_from([2, 100, 10000, 0]))}) {{ {callee} }}"
        elif shape == "residual":
            body = f"residual {{ {' -> '.join(uses)} }}"
        else:
            body = "(" + " -> ".join(uses) + ")"
        lines.append(f"block b{i} = {body}")
        callee = f"b{i}"
    element = callee
    for _ in range(draw(st.integers(0, 3))):
        n = draw(st.sampled_from([10000, 1000, 3, 0]))
        element = draw(
            st.sampled_from(
                [
                    f"repeat({n}) {{ {element} }}",
                    f"({element})",
                    f"concat {{ {element}; {element} }}",
                ]
            )
        )
    lines.append(f"model m {{\n    input x: 3x8x8\n    output y = x -> {element}\n}}")
    return "\n".join(lines) + "\n"


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(nestings())
def test_every_nesting_ends_within_the_limits(text: str) -> None:
    start = time.perf_counter()
    e, err = _elaborate(text)
    took = time.perf_counter() - start
    assert e.work <= MAX_WORK + 1 and len(e.g) <= MAX_NODES
    assert took < 60, took  # bounded by the limits; a hang would never get here
    if err is None:
        return
    for one in _errors(err):
        assert one.span is not None and one.span.file == "limits.incept", one.render()
        if isinstance(one, InceptLimitError):
            assert "the limit for a model is" in one.message or "limit" in one.message


# ---- the lower bounds are lower bounds ----------------------------------------------------------
class _Recording(Elaborator):
    """Checks, for every block application that succeeds, the bound against what it took."""

    def _inline(self, entry, call, x, ctx, name, name_span):  # type: ignore[override]
        work, nodes = self.work, len(self.g)
        out = super()._inline(entry, call, x, ctx, name, name_span)
        bound_work, bound_nodes = self._bound(entry, len(ctx.stack))
        assert self.work - work >= bound_work, (entry.defn.name, self.work - work, bound_work)
        assert len(self.g) - nodes >= bound_nodes, (entry.defn.name, len(self.g) - nodes)
        return out


@pytest.mark.parametrize(("path", "model"), _MODELS, ids=[f"{p.stem}-{m}" for p, m in _MODELS])
def test_block_bounds_never_exceed_what_elaboration_takes(path: Path, model: str) -> None:
    unit = Loader().load_path(path)
    (m,) = [m for m in unit.program.models if m.name == model]
    _Recording(unit, m, None, None).build()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(nestings())
def test_block_bounds_hold_for_generated_nestings(text: str) -> None:
    unit = Loader().load_text(text, "limits.incept", Path.cwd())
    (m,) = unit.program.models
    with contextlib.suppress(InceptError):  # a limit or a shape error: the bounds still held
        _Recording(unit, m, None, None).build()
