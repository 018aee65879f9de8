"""ONNX backend: every op lowers; every architecture checks (full_check) and runs in onnxruntime
with the PyTorch module's outputs; names, shapes, metadata and bytes are as promised; mistakes
are located errors."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import model
from optimizer_helpers import load_small

import incept_dsl
from incept_dsl.backends.init_numpy import init_state, state_shapes
from incept_dsl.backends.onnx.export import LOWER
from incept_dsl.backends.torch.codegen import build_module, module_class
from incept_dsl.cli import main
from incept_dsl.errors import InceptExportError, UsageError
from incept_dsl.frontend.loader import Loader
from incept_dsl.ir.graph import Head
from incept_dsl.ir.ops import OPS

ARCH = Path(__file__).resolve().parents[3] / "architectures"
RTOL = 1e-4

#: Every IR op but slice (only the optimiser makes slices; see test_slices_*), ceil-mode pools
#: whose last window PyTorch drops, an even LRN window (ONNX pads it the other way round),
#: uneven adaptive windows, BN on a flat tensor, n-ary add, several heads, the v2 activations on
#: images and on flat tensors (HardSwish is HardSigmoid and Mul before opset 14), the v2 `mul`
#: join: squeeze-and-excitation inside a block (a function with `functions=True`) and an n-ary
#: product of bound tensors whose first input is a C×1×1 gate.
EVERYTHING = """
block mix(c) = concat {
    conv(c, 1, act = relu6)
    conv(c, 3, act = gelu) -> lrn(size = 4)
    conv(c, 3, dilation = 2, act = silu) -> lrn
    maxpool(2, stride = 2, padding = 1, ceil = true) -> conv(c, 1, act = sigmoid)
        -> adaptive_avgpool(6x6)
    conv(c, 1, act = hardswish) -> leaky_relu(slope = 0.2) -> hardsigmoid
    conv(c, 1, act = leaky_relu) -> hardswish -> leaky_relu(slope = -0.5)
    conv(c, 1) -> mul { identity; avgpool(global) -> conv(c, 1, act = hardsigmoid) }
}
model everything(classes = 7) {
    input x: 3x23x23
    defaults conv(bn = true, act = relu)
    a = x -> conv(16, 3, stride = 2) -> maxpool(3, stride = 2, ceil = true, padding = valid)
    b = a -> mix(8) -> avgpool(2, stride = 2, ceil = true, padding = 1)
    s = b -> avgpool(global) -> conv(56, 1, bn = false, act = sigmoid)
    c = mul(s, b, b) -> residual(scale = 0.2) { conv(56, 1, act = tanh) }
        -> adaptive_avgpool(2x1)
    d = add(c, c, c) -> dropout(0.3) -> flatten -> linear(20, act = relu) -> bn
        -> linear(20, act = hardsigmoid) -> linear(20, act = leaky_relu) -> hardswish
    output logits = d -> linear(classes)
    output probs = d -> linear(classes) -> softmax
    aux side = b -> avgpool(3, stride = 3, ceil = true, count_include_pad = false) -> flatten
        -> dropout(0.5) weight 0.3
}
"""


# ---- helpers -----------------------------------------------------------------------------------
_POOL = np.random.default_rng(0).uniform(-1.0, 1.0, 1 << 20).astype(np.float32)


def _random_state(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights (He-uniform scale), biases and batch-norm statistics, keyed like the torch
    state_dict. Large tensors repeat a 1 Mi-value random pool from a random offset: as good as
    fresh draws for comparing two runtimes, at memcpy speed (VGG has 138 M weights)."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for key, _, role, shape in state_shapes(graph):
        if role == "num_batches_tracked":
            state[key] = np.zeros(shape, dtype=np.int64)
        elif role == "running_var":
            state[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif role == "weight" and len(shape) == 1:  # BN scale
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            bound = (6.0 / math.prod(shape[1:])) ** 0.5 if role == "weight" else 0.2
            pool = np.roll(_POOL * np.float32(bound), int(rng.integers(len(_POOL))))
            state[key] = np.resize(pool, shape)
    return state


def _torch_outputs(graph, state: Mapping[str, np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """The eval-mode outputs of the generated module for `graph` (built on the meta device and
    given `state` by assignment: no wasted initialisation)."""
    with torch.device("meta"):
        net = module_class(graph)()
    net.load_state_dict(
        {k: torch.from_numpy(v) for k, v in state.items()}, strict=True, assign=True
    )
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(x))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _run(proto_bytes: bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto_bytes, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        rel = float(np.abs(g - w).max() / max(float(np.abs(w).max()), 1e-12))
        assert rel < RTOL, rel


def _check_and_run(proto, x: np.ndarray) -> list[np.ndarray]:
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    return _run(data, {proto.graph.input[0].name: x})


def _architectures() -> list[tuple[str, str]]:
    out = []
    for f in sorted(ARCH.glob("*.incept")):
        out += [(f.name, m.name) for m in Loader().load_path(f).program.models]
    return out


def _small(file: str, name: str):
    """The model at the smallest of a few input sizes it accepts (its own size otherwise). A
    model whose input side is its `size` parameter (U-Net, the segmentation models) is loaded
    through it (`optimizer_helpers.load_small`), except a token model: with this test's random
    weights (no residual branch zeroed) ViT-B's twelve encoder layers are ill-conditioned at a
    few tokens (3e-4 between the runtimes at 64×64, below 1e-4 at its own 224×224)."""
    declared = incept_dsl.load(file, model=name)
    tokens = any(declared.graph.op(n) == "tokens" for n in declared.graph.nodes())
    if "size" in declared.params and not tokens:
        return load_small(file, name)
    for size in (32, 64, 75, 96, 128, 160, 224):
        try:
            return incept_dsl.load(file, model=name, input_shape=(3, size, size))
        except incept_dsl.InceptError:
            continue
    return declared


def _input(m, batch: int = 2, seed: int = 1) -> np.ndarray:
    shape = next(iter(m.inputs.values()))
    return np.random.default_rng(seed).standard_normal((batch, *shape), dtype=np.float32)


# ---- the table -----------------------------------------------------------------------------------
def test_every_op_has_a_lowering():
    assert set(LOWER) == set(OPS)


# ---- every architecture ----------------------------------------------------------------------------
@pytest.mark.parametrize(("file", "name"), _architectures())
def test_architecture_checks_and_matches_torch(file, name):
    m = _small(file, name)
    state = _random_state(m.graph)
    x = _input(m, batch=2 if m.param_count() < 50e6 else 1)  # a batch of 2 where it is cheap
    want = _torch_outputs(m.graph, state, x)
    proto = m.to_onnx(state_dict=state)  # the default: -O1
    _assert_close(_check_and_run(proto, x), want)
    if m.param_count() < 50e6:  # bigger ones would double their time for the same check
        assert m.to_onnx(state_dict=state).SerializeToString() == proto.SerializeToString()


@pytest.mark.parametrize(("name", "size"), [("googlenet_tv", 96), ("googlenet", 224)])
def test_o1_has_only_the_real_nodes_of_torch_onnx_export(name, size):
    """No Identity or Constant nodes; siblings stay unmerged for onnxruntime (TARGET_SKIPS)."""
    import io
    import warnings

    m = incept_dsl.load("googlenet.incept", model=name, input_shape=(3, size, size))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m.to_torch().eval(), (torch.randn(1, 3, size, size),), buf, dynamo=False)
    theirs = onnx.load_from_string(buf.getvalue()).graph.node
    ours = m.to_onnx(opt_level=1).graph.node
    real = [n for n in theirs if n.op_type not in ("Identity", "Constant")]
    assert len(ours) <= len(real) < len(theirs)
    assert not {n.op_type for n in ours} & {"Identity", "Constant", "Split"}


# ---- levels, functions, heads ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def everything():
    m = model(EVERYTHING)
    state = _random_state(m.graph, seed=3)
    x = _input(m, batch=3)
    return m, state, x, _torch_outputs(m.graph, state, x)


@pytest.mark.parametrize("opset", [11, 13, 18, 20, 26, onnx.defs.onnx_opset_version()])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_every_op_matches_torch(everything, level, opset):
    m, state, x, want = everything
    proto = m.to_onnx(opt_level=level, state_dict=state, opset=opset)
    if opset > 26:  # newer than onnxruntime 1.31 reads: check only
        onnx.checker.check_model(proto, full_check=True)
        return
    _assert_close(_check_and_run(proto, x), want)


@pytest.mark.parametrize("level", [0, 1])
def test_functions_check_and_match(everything, level):
    m, state, x, want = everything
    proto = m.to_onnx(opt_level=level, state_dict=state, functions=True)
    assert [f.name for f in proto.functions] == ["mix"]
    assert any(n.op_type == "mix" and n.name == "mix_1" for n in proto.graph.node)
    _assert_close(_check_and_run(proto, x), want)


def test_googlenet_functions_share_one_inception():
    m = incept_dsl.load("googlenet.incept", model="googlenet")
    state = _random_state(m.graph)
    x = _input(m, batch=1)
    want = _torch_outputs(m.graph, state, x)
    proto = m.to_onnx(opt_level=0, state_dict=state, functions=True)
    assert [f.name for f in proto.functions] == ["inception"]
    calls = [n.name for n in proto.graph.node if n.op_type == "inception"]
    assert calls == [
        "inception_3a",
        "inception_3b",
        "inception_4a",
        "inception_4b",
        "inception_4c",
        "inception_4d",
        "inception_4e",
        "inception_5a",
        "inception_5b",
    ]
    _assert_close(_check_and_run(proto, x), want)
    assert (
        m.to_onnx(opt_level=0, state_dict=state, functions=True).SerializeToString()
        == proto.SerializeToString()
    )


def test_keep_aux_exports_the_aux_heads(everything):
    m, state, x, _ = everything
    proto = m.to_onnx(opt_level=0, state_dict=state, keep_aux=True)
    assert [o.name for o in proto.graph.output] == ["logits", "probs", "side"]
    g = m.graph.copy()  # the same graph with every head an output: torch's eval mode returns all
    g.data["heads"] = [Head(h.name, "output", h.weight, h.node) for h in g.heads]
    _assert_close(_check_and_run(proto, x), _torch_outputs(g, state, x))
    plain = m.to_onnx(opt_level=0, state_dict=state)
    assert [o.name for o in plain.graph.output] == ["logits", "probs"]
    assert not any(i.name.startswith("avgpool_3") for i in plain.graph.value_info)


def test_heads_that_are_inputs_identities_or_shared():
    m = model("""model heads { input x: 4x5x5
        output same = x
        output y = x -> conv(4, 1) -> dropout
        output y2 = y
        output z = x -> conv(4, 1) -> flatten }""")
    state = _random_state(m.graph)
    x = _input(m)
    proto = m.to_onnx(opt_level=0, state_dict=state)
    assert [o.name for o in proto.graph.output] == ["same", "y", "y2", "z"]
    _assert_close(_check_and_run(proto, x), _torch_outputs(m.graph, state, x))


@pytest.mark.parametrize(
    ("size", "beta"), [(1, 0.75), (2, 0.5), (3, 1.0), (4, 0.75), (5, 0.6), (6, 0.75), (9, 0.75)]
)
def test_lrn_windows_and_powers(size, beta):
    m = model(
        f"model l {{ input x: 7x3x3\n output y = x -> lrn(size = {size}, beta = {beta}, "
        "alpha = 0.01, k = 2.0) }"
    )
    x = _input(m) * 3
    proto = m.to_onnx(opt_level=0)
    assert "LRN" not in {n.op_type for n in proto.graph.node}  # the band-matrix Conv instead
    _assert_close(_check_and_run(proto, x), _torch_outputs(m.graph, {}, x))


# ---- slices (made by the optimiser) ----------------------------------------------------------------
def _sliced(pieces: list[tuple[int, int]]):
    """A model whose 12-channel conv output is cut into `pieces` and concatenated in reverse."""
    m = model("model s { input x: 3x6x6\n output y = x -> conv(12, 1) }")
    g = m.graph
    conv = g.by_scope("conv_1")
    sl = [
        g.add_node(
            "slice", {"start": a, "end": b}, [conv], (b - a, 6, 6), f"slice_{i}", g.span(conv)
        )
        for i, (a, b) in enumerate(pieces, 1)
    ]
    out = g.add_node(
        "concat", {}, sl[::-1], (sum(b - a for a, b in pieces), 6, 6), "concat_1", g.span(conv)
    )
    g.data["heads"] = [Head("y", "output", 1.0, out)]
    return m


@pytest.mark.parametrize(
    ("pieces", "op_types"),
    [
        ([(0, 4), (4, 9), (9, 12)], {"Split"}),  # a partition: one Split
        ([(0, 4), (5, 12)], {"Slice"}),  # a gap: Slices
    ],
)
@pytest.mark.parametrize("opset", [11, 18])
def test_slices(pieces, op_types, opset):
    m = _sliced(pieces)
    state = _random_state(m.graph)
    x = _input(m)
    proto = m.to_onnx(opt_level=0, state_dict=state, opset=opset)
    assert {n.op_type for n in proto.graph.node} - {"Conv", "Relu", "Concat"} == op_types
    _assert_close(_check_and_run(proto, x), _torch_outputs(m.graph, state, x))


# ---- names, shapes, metadata, bytes ---------------------------------------------------------------
@pytest.fixture(scope="module")
def googlenet():
    return incept_dsl.load("googlenet.incept", model="googlenet")


@pytest.fixture(scope="module")
def googlenet_o0(googlenet):
    return googlenet.to_onnx(opt_level=0)


def test_names_follow_the_source(googlenet, googlenet_o0):
    proto = googlenet_o0
    net = googlenet.to_torch()
    keys = {
        k
        for k in net.state_dict()
        if not k.endswith("num_batches_tracked") and not k.startswith("aux_head")
    }
    names = {t.name for t in proto.graph.initializer}
    assert keys <= names  # plus the constants of the two LRNs' lowering
    assert names - keys == {f"lrn_{i}.{c}" for i in (1, 2) for c in ("window", "k")}
    nodes = {n.name: n for n in proto.graph.node}
    conv = nodes["inception_3a.branch_2.conv_1"]
    assert conv.op_type == "Conv"
    assert list(conv.input[1:]) == [
        "inception_3a.branch_2.conv_1.weight",
        "inception_3a.branch_2.conv_1.bias",
    ]
    props = {p.key: p.value for p in conv.metadata_props}
    assert props == {"incept.op": "conv", "incept.source": "googlenet.incept:13:5"}
    assert conv.doc_string == "source: googlenet.incept:13:5"
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert "Dropout" not in {n.op_type for n in proto.graph.node}


def test_every_intermediate_has_its_shape_and_a_dynamic_batch(googlenet, googlenet_o0):
    proto = googlenet_o0
    made = {t for n in proto.graph.node for t in n.output} - {"logits"}
    info = {v.name: v for v in proto.graph.value_info}
    assert set(info) == made
    g = googlenet.graph
    want = g.shape(g.by_scope("inception_4a.concat_1"))
    dims = info["inception_4a.concat_1"].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and tuple(d.dim_value for d in dims[1:]) == want
    for v in [*proto.graph.input, *proto.graph.output]:
        assert v.type.tensor_type.shape.dim[0].dim_param == "N"
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    assert len(inferred.graph.value_info) == len(proto.graph.value_info)
    outs = [
        _run(proto.SerializeToString(), {"image": _input(googlenet, b)})[0].shape for b in (1, 3)
    ]
    assert outs == [(1, 1000), (3, 1000)]


def test_model_metadata(googlenet, googlenet_o0):
    proto = googlenet_o0
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["incept.model"] == "googlenet"
    assert props["incept.source"] == "googlenet.incept"
    assert props["incept.source_sha256"] == googlenet.source_sha256
    assert len(props["incept.source_sha256"]) == 64
    assert props["incept.compiler_version"] == incept_dsl.__version__
    assert props["incept.opt_level"] == "0"
    assert proto.producer_name == "incept-dsl"
    assert proto.producer_version == incept_dsl.__version__
    assert proto.graph.name == "googlenet"


def test_fresh_weights_are_repeatable_and_seeded(googlenet, googlenet_o0):
    assert googlenet.to_onnx(opt_level=0).SerializeToString() == googlenet_o0.SerializeToString()
    other = googlenet.to_onnx(opt_level=0, seed=1)
    assert other.graph.initializer[0].raw_data != googlenet_o0.graph.initializer[0].raw_data


def test_torch_state_dict_and_cli_weights(tmp_path, googlenet):
    net = googlenet.to_torch().eval()
    ckpt = tmp_path / "g.pt"
    torch.save(net.state_dict(), ckpt)
    out = tmp_path / "g.onnx"
    assert (
        main(
            [
                "compile",
                "googlenet.incept",
                "--model",
                "googlenet",
                "--to",
                "onnx",
                "-O0",
                "-o",
                str(out),
                "--weights",
                str(ckpt),
            ]
        )
        == 0
    )
    x = _input(googlenet, batch=1)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    _assert_close(_run(out.read_bytes(), {"image": x}), [want])
    api = googlenet.to_onnx(opt_level=0, state_dict=net.state_dict())
    assert onnx.load(str(out)).SerializeToString() == api.SerializeToString()


def test_cli_writes_identical_files(tmp_path):
    outs = [tmp_path / f"{i}.onnx" for i in range(2)]
    for o in outs:
        assert (
            main(["compile", "googlenet.incept", "--to", "onnx", "--functions", "-o", str(o)]) == 0
        )
    assert outs[0].read_bytes() == outs[1].read_bytes()
    onnx.checker.check_model(str(outs[0]), full_check=True)


def test_fresh_export_does_not_import_torch(tmp_path):
    code = (
        "import sys, incept_dsl; m = incept_dsl.load('googlenet.incept'); "
        f"m.to_onnx({str(tmp_path / 'g.onnx')!r}); m.to_onnx(opt_level=0); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- init_numpy -----------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["fan_in", "kaiming", "trunc_normal", "torch"])
def test_numpy_init_loads_strictly_into_the_torch_module(scheme):
    m = model(EVERYTHING)
    state = init_state(m.graph, scheme)
    net = build_module(m.graph)
    ref = net.state_dict()
    assert list(state) == [k for k in state if k in ref] and set(state) == set(ref)
    for k, v in state.items():
        assert tuple(v.shape) == tuple(ref[k].shape) and str(v.dtype) in str(ref[k].dtype)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


def test_numpy_fan_in_zeroes_the_layers_torch_zeroes():
    m = incept_dsl.load("resnet.incept", model="resnet18")
    torch_zero = {
        k
        for k, v in build_module(m.graph).state_dict().items()
        if k.endswith("weight") and not v.any()
    }
    numpy_zero = {
        k for k, v in init_state(m.graph, "fan_in").items() if k.endswith("weight") and not v.any()
    }
    assert torch_zero == numpy_zero and len(torch_zero) == 8


def test_numpy_init_distributions():
    m = model(
        "model k { input x: 64x8x8\n output y = x -> conv(256, 3) -> flatten -> linear(100) }"
    )
    kaiming = init_state(m.graph, "kaiming")
    w = kaiming["conv_1.weight"]
    assert abs(w.std() - (2.0 / (256 * 9)) ** 0.5) < 0.002 and abs(w.mean()) < 0.002
    assert abs(kaiming["linear_1.weight"].std() - 0.01) < 0.0005
    assert not kaiming["conv_1.bias"].any()
    uniform = init_state(m.graph, "torch")["conv_1.weight"]
    assert 0.95 / 24 < np.abs(uniform).max() <= 1 / 24  # U(-1/sqrt(fan_in), ...), fan_in 576
    a, b = init_state(m.graph, seed=5), init_state(m.graph, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---- mistakes ------------------------------------------------------------------------------------
def test_an_opset_too_old_for_an_op_is_located():
    m = model("model s {\n input x: 3x4x4\n output y = x -> softmax\n}")
    with pytest.raises(InceptExportError) as err:
        m.to_onnx(opt_level=0, opset=12)
    assert err.value.span.line == 3 and "opset 13" in str(err.value)
    m.to_onnx(opt_level=0, opset=13)  # and fine where it exists


_ACTS = """model acts {
    input x: 3x6x6
    output y = x -> conv(4, 3, act = hardswish) -> hardsigmoid -> leaky_relu(slope = -0.3)
        -> conv(4, 1, act = leaky_relu) -> flatten -> hardswish
}"""


@pytest.mark.parametrize("opset", [11, 13, 14, 18])
def test_the_v2_activations_lower_to_onnx_s_ops_with_pytorch_s_constants(opset):
    m = model(_ACTS)
    state = _random_state(m.graph, seed=5)
    x = _input(m, batch=2) * 4.0  # past hardswish's and hardsigmoid's kinks at -3 and 3
    proto = m.to_onnx(opt_level=0, state_dict=state, opset=opset)
    nodes = [(n.name, n.op_type) for n in proto.graph.node]
    if opset >= 14:
        assert ("conv_1.hardswish", "HardSwish") in nodes
        assert ("hardswish_1", "HardSwish") in nodes
    else:  # x * HardSigmoid(x): the same function
        assert ("conv_1.hardswish/hardsigmoid", "HardSigmoid") in nodes
        assert ("conv_1.hardswish", "Mul") in nodes
        assert "HardSwish" not in {t for _, t in nodes}
    attrs = {
        n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        for n in proto.graph.node
    }
    assert attrs["hardsigmoid_1"] == pytest.approx({"alpha": 1 / 6, "beta": 0.5})
    assert attrs["leaky_relu_1"] == pytest.approx({"alpha": -0.3})
    assert attrs["conv_2.leaky_relu"] == pytest.approx({"alpha": 0.01})
    _assert_close(_check_and_run(proto, x), _torch_outputs(m.graph, state, x))


@pytest.mark.parametrize("opset", [0, 10, 10_000])
def test_an_opset_out_of_range_is_a_usage_error(opset):
    with pytest.raises(UsageError):
        model("model s { input x: 3\n output y = x -> relu }").to_onnx(opset=opset)


@pytest.mark.parametrize("level", [0, 1])
def test_weights_that_do_not_fit_are_located(level):
    m = model("model w {\n input x: 3x4x4\n output y = x -> conv(8, 3)\n}")
    state = init_state(m.graph)
    with pytest.raises(InceptExportError) as err:
        m.to_onnx(opt_level=level, state_dict={"conv_1.weight": state["conv_1.weight"]})
    assert err.value.span.line == 3 and "conv_1.bias" in err.value.message
    with pytest.raises(UsageError, match="extra.weight"):
        m.to_onnx(opt_level=level, state_dict={**state, "extra.weight": state["conv_1.bias"]})
    state["conv_1.weight"] = state["conv_1.weight"][:4]
    with pytest.raises(InceptExportError) as err:
        m.to_onnx(opt_level=level, state_dict=state)
    assert "(4, 3, 3, 3)" in err.value.message and err.value.span.line == 3


def test_npz_weights_without_torch(tmp_path):
    m = model("model w { input x: 3x4x4\n output y = x -> conv(8, 3, bn = true) }")
    src = tmp_path / "w.incept"
    src.write_text("model w { input x: 3x4x4\n output y = x -> conv(8, 3, bn = true) }")
    state = _random_state(m.graph)
    np.savez(tmp_path / "w.npz", **state)
    out = tmp_path / "w.onnx"
    assert (
        main(
            [
                "compile",
                str(src),
                "--to",
                "onnx",
                "-o",
                str(out),
                "--weights",
                str(tmp_path / "w.npz"),
            ]
        )
        == 0
    )
    x = _input(m)
    _assert_close(_run(out.read_bytes(), {"x": x}), _torch_outputs(m.graph, state, x))


def test_cli_reports_bad_options_without_traceback(tmp_path, capsys):
    assert (
        main(
            [
                "compile",
                "googlenet.incept",
                "--to",
                "onnx",
                "--opset",
                "7",
                "-o",
                str(tmp_path / "x.onnx"),
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "compile",
                "googlenet.incept",
                "--to",
                "onnx",
                "--weights",
                str(tmp_path / "missing.pt"),
                "-o",
                str(tmp_path / "x.onnx"),
            ]
        )
        == 2
    )
    assert "Traceback" not in capsys.readouterr().err
