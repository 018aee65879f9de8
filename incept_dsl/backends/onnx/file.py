"""Writing an ONNX file without building it as one bytes object.

`write_model(proto, initializers, path)` writes the model `proto` (which holds no initializers)
with `initializers` ({name: numpy array}, in order) as its graph's initializers. Protobuf's wire
format lets a message's fields come in any order and a repeated field in pieces, so the file is
the model's other fields, then its graph field: the graph's serialised fields followed by one
`initializer` field per array whose `raw_data` is written straight from the array's memory. That
skips `SerializeToString`'s copy of every weight (the slowest step of exporting a large model).

Guarantees: the path is checked like every output (`outputs.check_output`) and written
atomically; `onnx.load(path)` equals `proto` with the initializers appended (same field values);
the bytes depend only on the inputs.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

#: onnx.TensorProto data types of the arrays we write.
DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}

# (field number << 3) | 2, the tag of a length-delimited field
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_RAW_DATA = 9


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, length: int) -> bytes:
    """The tag and length prefix of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def little_endian(arr: np.ndarray) -> np.ndarray:
    """`arr` as a C-contiguous little-endian array of the same shape (no copy when it already is
    one; a 0-d array stays 0-d, a scalar, unlike what `np.ascontiguousarray` makes of it)."""
    return np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")


def tensor_header(name: str, arr: np.ndarray) -> bytes:
    """The serialised TensorProto of `arr` without its raw_data (name, data type, dims)."""
    from onnx import TensorProto

    t = TensorProto(name=name, data_type=DTYPES[arr.dtype])
    t.dims.extend(arr.shape)
    return t.SerializeToString()


def write_model(
    proto: Any,
    initializers: Mapping[str, np.ndarray],
    path: str | Path,
    inputs: Iterable[Path] = (),
    fill: bool = False,
) -> None:
    """Write `proto` with `initializers` appended to its graph (see the module doc). `path` is
    checked first (`outputs.check_output`): it must end in `.onnx`, be no folder or device and
    none of `inputs` (the program's source files); else a `UsageError`.

    With `fill`, `proto` also gets the initializers (`add_initializers`) while a second thread
    writes the file. The writer hands all pieces to the kernel in a few `os.writev` calls, each
    of which releases the GIL for its whole length, so it never waits on the filling thread (one
    `write` per piece waited up to the interpreter's 5 ms switch interval for each of the ~4
    pieces per tensor, and made the overlap slower than the two steps in turn). The file and
    `proto` are the same as from the two calls in turn, and an exception or interrupt in either
    leaves no file (the temporary file is renamed into place only after both finished).
    """
    from onnx import ModelProto

    from incept_dsl.outputs import atomic_writer, check_output

    check_output(Path(path), (".onnx",), inputs, "an ONNX model")

    rest = ModelProto()
    rest.CopyFrom(proto)
    rest.ClearField("graph")
    pieces: list[Any] = [proto.graph.SerializeToString()]
    for name, arr in initializers.items():
        data = little_endian(arr)
        header = tensor_header(name, data)
        raw = _field(_TENSOR_RAW_DATA, data.nbytes)
        pieces += [
            _field(_GRAPH_INITIALIZER, len(header) + len(raw) + data.nbytes),
            header,
            raw,
            data.reshape(-1).view(np.uint8).data,  # a memoryview of the bytes
        ]
    graph_len = sum(len(p) if isinstance(p, bytes) else p.nbytes for p in pieces)
    pieces[:0] = [rest.SerializeToString(), _field(_MODEL_GRAPH, graph_len)]
    with atomic_writer(Path(path)) as f:
        if fill:
            _write_while_filling(f, pieces, proto, initializers)
        else:
            write_pieces(f, pieces)


#: The most buffers one `os.writev` takes (POSIX guarantees at least 16; Linux takes 1024).
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16


def write_pieces(f: BinaryIO, pieces: list[Any]) -> None:
    """Write `pieces` (bytes or memoryviews), in order and whole, at `f`'s position: with
    `os.writev` where there is one (a few system calls, the GIL released during each), else one
    `f.write` per piece. Short writes are resumed where they stopped."""
    if not hasattr(os, "writev"):
        for p in pieces:
            f.write(p)
        return
    f.flush()
    fd = f.fileno()
    bufs = [memoryview(p).cast("B") for p in pieces if len(p)]
    i = 0
    while i < len(bufs):
        done = os.writev(fd, bufs[i : i + max(_IOV_MAX, 16)])
        if not done:
            raise OSError(errno.EIO, "the file took no more bytes")
        while i < len(bufs) and done >= len(bufs[i]):
            done -= len(bufs[i])
            i += 1
        if done:
            bufs[i] = bufs[i][done:]


def _write_while_filling(
    f: BinaryIO, pieces: list[Any], proto: Any, initializers: Mapping[str, np.ndarray]
) -> None:
    """Write `pieces` to `f` in a second thread while `add_initializers(proto, ...)` runs in this
    one; returns when both are done and raises the first failure (the caller's `atomic_writer`
    then removes the temporary file, so a failure in either leaves no file)."""
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            write_pieces(f, pieces)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=writer, name="incept-dsl onnx writer")
    thread.start()
    try:
        add_initializers(proto, initializers)
    finally:
        thread.join()
    if failure:
        raise failure[0]


def add_initializers(proto: Any, initializers: Mapping[str, np.ndarray]) -> None:
    """Append `initializers` to `proto.graph.initializer` as raw_data tensors, in order."""
    g = proto.graph
    for name, arr in initializers.items():
        data = little_endian(arr)
        t = g.initializer.add()
        t.name = name
        t.data_type = DTYPES[data.dtype]
        t.dims.extend(data.shape)
        t.raw_data = data.tobytes()
