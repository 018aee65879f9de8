"""`compile_for_inference`: torch.compile with Inductor's freezing and C++ wrapper, called under
inference mode. Its outputs match the -O0 module's; the weights really are frozen into the
compiled graph; Inductor's config is left as it was; misuse is a `UsageError`."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import model
from optimizer_helpers import FUSED_PROGRAM as PROGRAM
from optimizer_helpers import randomize

import incept_dsl
from incept_dsl.backends.torch import inference
from incept_dsl.errors import UsageError


def _nets() -> tuple[torch.nn.Module, torch.nn.Module]:
    """The -O0 module with random weights and batch-norm statistics, and its -O2 twin (a conv
    with its residual add and ReLU fused, channels-last)."""
    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    return net0, m.to_torch(opt_level=2, state_dict=net0.state_dict()).eval()


def test_the_compiled_O2_module_computes_what_O0_does_with_frozen_weights():
    import torch._inductor.config as inductor_config

    net0, net2 = _nets()
    fast = incept_dsl.compile_for_inference(net2)
    assert isinstance(fast, inference.CompiledForInference) and fast.module is net2
    assert fast.state_dict().keys() == {f"module.{k}" for k in net2.state_dict()}
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = net0(x)
    got = fast(x)
    assert got.is_inference()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert not inductor_config.freezing and not inductor_config.cpp_wrapper  # left as found
    # frozen: the compiled graph holds (most of) the weights as constants, so changing them
    # afterwards moves the eager module's output and not the compiled one's (unfrozen, the
    # weights are the graph's inputs and the outputs would agree)
    with torch.no_grad():
        for p in net2.parameters():
            p.mul_(0.5)
        changed = net2(x)
    assert not torch.allclose(changed, want, rtol=1e-3)
    assert not torch.allclose(fast(x), changed, rtol=1e-3)


def test_training_mode_and_non_modules_are_usage_errors():
    _, net2 = _nets()
    fast = incept_dsl.compile_for_inference(net2)
    fast.train()
    with pytest.raises(UsageError, match="training mode"):
        fast(torch.randn(1, 3, 16, 16))
    with pytest.raises(UsageError, match="takes a torch.nn.Module; got str"):
        incept_dsl.compile_for_inference("net")  # type: ignore[arg-type]


def test_a_machine_without_a_cpp_compiler_gets_a_usage_error(monkeypatch):
    from torch._inductor import cpp_builder, exc

    def missing() -> str:
        raise exc.InvalidCxxCompiler()

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", missing)
    assert "needs a C++ compiler" in (inference.compiler_missing() or "")
    with pytest.raises(UsageError, match="needs a C\\+\\+ compiler"):
        incept_dsl.compile_for_inference(_nets()[1])


def test_a_wrong_compiled_output_is_caught_on_the_first_call_of_each_shape():
    _, net2 = _nets()
    fast = incept_dsl.compile_for_inference(net2)
    fast._compiled = (lambda x: net2(x) * 1.001,)  # a compiler bug, simulated
    with pytest.raises(inference.WrongCompiledOutput, match=r"relative difference 1\.0e-03"):
        fast(torch.randn(2, 3, 16, 16))
    fast._compiled = (net2,)
    fast(torch.randn(2, 3, 16, 16))  # right: this signature is checked, and not again
    fast._compiled = (lambda x: net2(x) * 1.001,)
    fast(torch.randn(2, 3, 16, 16))
    with pytest.raises(inference.WrongCompiledOutput):  # a new batch size: checked
        fast(torch.randn(3, 3, 16, 16))
    unchecked = incept_dsl.compile_for_inference(net2, check=False)
    unchecked._compiled = (lambda x: net2(x) * 1.001,)
    unchecked(torch.randn(2, 3, 16, 16))


def test_the_signature_tells_apart_what_torch_compile_does():
    sig = inference._signature
    x = torch.randn(2, 3, 4, 4)
    assert sig((x,), {}) == sig((torch.randn(2, 3, 4, 4),), {})
    assert sig((x,), {}) != sig((torch.randn(3, 3, 4, 4),), {})  # batch size
    assert sig((x,), {}) != sig((x.contiguous(memory_format=torch.channels_last),), {})
    assert sig((x,), {}) != sig((x.double(),), {})
    assert sig((x,), {"scale": 0.5}) != sig((x,), {"scale": 2.0})
    hash(sig((x, [x, object()]), {}))  # any other value counts by its type: hashable


def test_the_difference_counts_nan_against_a_number_and_not_nan_against_nan():
    diff = inference.worst_difference
    x = torch.tensor([1.0, float("inf"), float("nan")])
    assert diff(x, x.clone()) == (0.0, 1e-4)
    wrong = torch.tensor([1.0, float("inf"), 2.0])
    assert math.isnan(diff((x,), (wrong,))[0])
    assert math.isnan(diff(wrong, x)[0])
    worst, tol = diff((x, x.bfloat16() * 1.01), (x, x.bfloat16()))
    assert tol == inference.TOLERANCE_OTHER and 0.005 < worst < inference.TOLERANCE_OTHER
