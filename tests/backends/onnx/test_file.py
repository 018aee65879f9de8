"""The spliced ONNX writer: the file parses to exactly the model the API returns."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import model

from incept_dsl.backends.onnx.file import _varint, add_initializers, write_model

SMALL = """model s(classes = 3) {
    input x: 3x8x8
    defaults conv(bn = true, act = relu)
    block two = concat { conv(4, 1); conv(4, 3) }
    output y = x -> two -> residual(scale = 0.5) { conv(8, 1) } -> lrn(size = 2)
        -> avgpool(global) -> flatten -> linear(classes)
}"""


@pytest.mark.parametrize("functions", [False, True])
@pytest.mark.parametrize("level", [0, 1])
def test_file_parses_to_the_returned_model(tmp_path, level, functions):
    path = tmp_path / "s.onnx"
    proto = model(SMALL).to_onnx(path, opt_level=level, functions=functions)
    assert onnx.load(str(path)).SerializeToString() == proto.SerializeToString()
    onnx.checker.check_model(str(path), full_check=True)


def test_big_endian_and_odd_arrays_round_trip(tmp_path):
    arrays = {
        "a": np.arange(6, dtype=">f4").reshape(2, 3),
        "scalar": np.asarray(0.25, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "ints": np.arange(5, dtype=np.int64)[::2],
    }
    proto = onnx.ModelProto(ir_version=10)
    proto.graph.name = "g"
    write_model(proto, arrays, tmp_path / "m.onnx")
    add_initializers(proto, arrays)
    loaded = onnx.load(str(tmp_path / "m.onnx"))
    assert loaded.SerializeToString() == proto.SerializeToString()
    for t in loaded.graph.initializer:
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(t), arrays[t.name])


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**31, 2**40 + 5])
def test_varint_matches_protobuf(n):
    from google.protobuf.internal.encoder import _VarintBytes

    assert _varint(n) == _VarintBytes(n)
