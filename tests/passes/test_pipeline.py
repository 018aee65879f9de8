"""The optimiser's proof on every bundled architecture: for every level the optimised module, with
the -O0 weights carried through the passes, computes the -O0 module's outputs within 1e-4
(relative to the output's magnitude) on random inputs, random weights and non-trivial batch-norm
statistics; every pass is idempotent; the IR verifies after every pass (run_pipeline checks it)."""

from __future__ import annotations

import pytest
from optimizer_helpers import arch_models, ids, load_small, randomize, rel_err

import incept_dsl
from incept_dsl.ir.verify import verify
from incept_dsl.passes import PASSES, PIPELINES, run_pipeline

MODELS = arch_models()


@pytest.mark.parametrize(("file", "model"), MODELS, ids=ids(MODELS))
def test_levels_compute_the_same_outputs(file: str, model: str) -> None:
    import torch

    m = load_small(file, model)
    torch.manual_seed(0)
    net0 = randomize(m.to_torch()).eval()
    state = net0.state_dict()
    x = [torch.randn(2, *shape) for shape in m.inputs.values()]
    with torch.no_grad():
        ref = net0(*x)
        for level in (1, 2):
            net = m.to_torch(opt_level=level, state_dict=state)
            assert not net.training
            out = net(*x)
            assert out.shape == ref.shape
            assert rel_err(out, ref) < 1e-4, f"-O{level}"


@pytest.mark.parametrize(("file", "model"), MODELS, ids=ids(MODELS))
def test_every_pass_is_idempotent_and_verifies(file: str, model: str) -> None:
    g = incept_dsl.load(f"{file}", model=model).graph.copy()
    for name in PIPELINES[2]:
        PASSES[name](g)
        verify(g, after=name)
        assert PASSES[name](g) is False, f"{name} changed the graph on its second run"
    again = run_pipeline(g, 2)
    assert again.dump() == g.dump()


def test_a_broken_pass_is_named_with_the_passes_before_it(monkeypatch):
    from incept_dsl.errors import CompilerBug

    def breaks_shapes(g):
        n = next(iter(g.nodes("conv")))
        g.node(n)["shape"] = (1, 1, 1)
        return True

    def crashes(g):
        raise KeyError("boom")

    m = incept_dsl.load("googlenet.incept", model="googlenet")
    monkeypatch.setitem(PASSES, "breaks-shapes", breaks_shapes)
    monkeypatch.setitem(PASSES, "crashes", crashes)
    with pytest.raises(CompilerBug, match=r"after pass 'breaks-shapes' \(passes run: prune-aux\)"):
        run_pipeline(m.graph, passes=("prune-aux", "breaks-shapes"))
    with pytest.raises(
        CompilerBug,
        match=r"pass 'crashes' failed \(passes run before it: "
        r"prune-aux\): KeyError",
    ):
        run_pipeline(m.graph, passes=("prune-aux", "crashes"))
