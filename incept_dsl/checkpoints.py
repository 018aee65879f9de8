"""Reading a weights file (`--weights CKPT`): a PyTorch checkpoint or an `.npz` archive, bounded.

`load_weights` reads no more than the model's state can need, never unpickles anything but
tensors (`torch.load(weights_only=True)`), and says in a `UsageError` why a file cannot be read.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import state_tensors
from incept_dsl.reading import file_kind

#: What a weights file may hold beyond 8 bytes per element of the model's state: pickles, headers.
WEIGHTS_SLACK_BYTES = 8 << 20
#: The first bytes of a (pre-zip) torch.save file: a pickle of protocol 2 or newer.
_PICKLE_MAGIC = b"\x80"


def load_weights(path: str | Path, graph: Graph | None = None) -> dict[str, Any]:
    """A state_dict from a file: `.npz` (numpy, no torch) or a torch checkpoint (a state_dict, or
    a dict holding one under `state_dict` / `model`). `UsageError` when it cannot be read.

    With `graph` (a model's -O0 graph), nothing larger than its state can need is read (weights
    bombs: a small deflated archive that declares gigabytes): a zip archive's members'
    uncompressed sizes (or another file's size) must not pass 8 bytes per element of the state
    plus `WEIGHTS_SLACK_BYTES`, and an `.npz` entry for a tensor of the model must declare its
    shape.
    """
    p = Path(path)
    size = _regular_file_size(p)
    npz = p.suffix.lower() == ".npz"
    expected = _expected_shapes(graph) if graph is not None else None
    try:
        obj = _read(p, npz, size, expected)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        what = "an .npz archive" if npz else "a PyTorch checkpoint"
        raise UsageError(f"--weights: cannot read {str(p)!r} as {what}: {reason}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise UsageError(f"--weights: {str(p)!r} holds no state_dict")
    return obj


def _regular_file_size(p: Path) -> int:
    """The size of `p`, which must be a regular file (else a `UsageError` saying what it is)."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UsageError(f"--weights: no such file {str(p)!r}") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not a valid file name"
        raise UsageError(f"--weights: cannot read {str(p)!r}: {reason}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"--weights: {str(p)!r} is {file_kind(st.st_mode)}, not a weights file "
            "(a PyTorch checkpoint or an .npz archive)"
        )
    return st.st_size


def _read(p: Path, npz: bool, size: int, expected: dict[str, tuple[int, ...]] | None) -> Any:
    """The file's object (bounded by `expected` when given): the arrays of an `.npz`, or what
    `torch.load` reads with `weights_only=True`."""
    with p.open("rb") as f:
        head = f.read(4)
    is_zip = zipfile.is_zipfile(p)
    members: list[zipfile.ZipInfo] = []
    if is_zip:
        with zipfile.ZipFile(p) as zf:
            members = zf.infolist()
            if npz and expected is not None:
                _check_npz_headers(p, zf, members, expected)
    if expected is not None:
        need = 8 * sum(math.prod(shape) for shape in expected.values())
        have = sum(m.file_size for m in members) if is_zip else size
        _check_weights_size(p, have, need, is_zip)
    if not is_zip and (npz or not head.startswith(_PICKLE_MAGIC)):
        raise UsageError(
            f"--weights: {str(p)!r} is "
            + ("empty" if not head else "not a PyTorch checkpoint or .npz archive")
            + (" (an .npz file is a zip archive, as numpy.savez writes)" if npz and head else "")
        )
    if npz:
        with np.load(p, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    return _torch_load(p)


def _expected_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """key -> shape of every tensor of the -O0 graph's state_dict."""
    return {
        f"{graph.scope(n)}.{role}": shape
        for n in graph.nodes()
        for role, shape in state_tensors(graph.op(n), graph.attrs(n))
    }


def _check_weights_size(p: Path, have: int, need: int, is_zip: bool) -> None:
    """Refuse a file that would make us allocate more than the model's state can need."""
    limit = need + WEIGHTS_SLACK_BYTES
    if have > limit:
        what = "its entries unpack to" if is_zip else "it holds"
        raise UsageError(
            f"--weights: {str(p)!r} is too large for this model: {what} {have:,} bytes; "
            f"the model's state_dict needs at most {need:,} bytes (limit {limit:,})"
        )


def _check_npz_headers(
    p: Path, zf: Any, members: list[Any], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Read the header of every `.npy` entry of an `.npz` archive (not its data): an entry for a
    tensor of the model must declare that tensor's shape, and no entry may declare more bytes
    than the model's whole state."""
    from numpy.lib import format as npy

    limit = 8 * sum(math.prod(s) for s in expected.values()) + WEIGHTS_SLACK_BYTES
    total = 0
    for info in members:
        key = info.filename.removesuffix(".npy")
        with zf.open(info) as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(f)
            else:  # 2.0 and 3.0 share the layout (3.0's header is UTF-8, ours ASCII)
                shape, _, dtype = npy.read_array_header_2_0(f)
        want = expected.get(key)
        if want is not None and tuple(shape) != want:
            raise UsageError(
                f"--weights: {str(p)!r} entry {key!r} has shape {tuple(shape)}; "
                f"the model needs {want}"
            )
        total += math.prod(shape) * dtype.itemsize
        if total > limit:
            raise UsageError(
                f"--weights: {str(p)!r} is too large for this model: its entries declare "
                f"more than {limit:,} bytes (the model's state_dict needs at most "
                f"{limit - WEIGHTS_SLACK_BYTES:,})"
            )


def _torch_load(p: Path) -> Any:
    """`torch.load` of plain tensors only (weights_only), its warnings kept quiet; a checkpoint
    holding other objects is a `UsageError` that does not suggest running its code."""
    import pickle
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            if "weights only load failed" not in str(err).lower():
                raise
    raise UsageError(
        f"--weights: {str(p)!r} holds objects other than tensors; incept-dsl only loads plain "
        "state_dicts (save model.state_dict(), a dict of tensors)"
    )
