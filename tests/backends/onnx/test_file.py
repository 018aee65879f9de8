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


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"w{i}": rng.standard_normal((64, 64, 3, 3)).astype(np.float32) for i in range(8)}


def test_fill_writes_while_it_fills_the_proto(tmp_path):
    """`fill=True` (what `to_onnx(path)` uses) gives the same file and proto as the two calls."""
    arrays = _arrays()
    a, b = onnx.ModelProto(ir_version=10), onnx.ModelProto(ir_version=10)
    write_model(a, arrays, tmp_path / "a.onnx")
    add_initializers(a, arrays)
    write_model(b, arrays, tmp_path / "b.onnx", fill=True)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    assert a.SerializeToString() == b.SerializeToString()


def test_a_failure_while_filling_leaves_the_old_file(tmp_path, monkeypatch):
    import incept_dsl.backends.onnx.file as file

    path = tmp_path / "m.onnx"
    path.write_bytes(b"the user's file")

    def fail(proto, initializers):
        raise KeyboardInterrupt

    monkeypatch.setattr(file, "add_initializers", fail)
    with pytest.raises(KeyboardInterrupt):
        write_model(onnx.ModelProto(ir_version=10), _arrays(), path, fill=True)
    assert path.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


def test_pieces_are_written_whole_through_short_writes_and_many_batches(tmp_path, monkeypatch):
    """`write_pieces` resumes a short `os.writev` where it stopped and splits the pieces into
    batches of at most IOV_MAX buffers."""
    import os

    import incept_dsl.backends.onnx.file as file

    real = os.writev
    batches: list[int] = []

    def short(fd, bufs):  # the kernel may take a prefix of what it is given: 7 bytes here
        batches.append(len(bufs))
        return real(fd, [b"".join(bytes(b) for b in bufs)[:7]])

    monkeypatch.setattr(file.os, "writev", short)
    monkeypatch.setattr(file, "_IOV_MAX", 16)
    rng = np.random.default_rng(1)
    pieces = [b"head", b""] + [rng.bytes(int(n)) for n in rng.integers(0, 40, 60)]
    pieces.append(np.arange(7, dtype=np.float32).view(np.uint8).data)
    with open(tmp_path / "out", "wb") as f:
        f.write(b"already there|")
        file.write_pieces(f, pieces)
    want = b"already there|" + b"".join(bytes(p) for p in pieces)
    assert (tmp_path / "out").read_bytes() == want
    assert max(batches) == 16


def test_a_file_that_takes_no_bytes_is_an_error_not_a_hang(tmp_path, monkeypatch):
    import incept_dsl.backends.onnx.file as file

    monkeypatch.setattr(file.os, "writev", lambda fd, bufs: 0)
    with open(tmp_path / "out", "wb") as f, pytest.raises(OSError):
        file.write_pieces(f, [b"abc"])
