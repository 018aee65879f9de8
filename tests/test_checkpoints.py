"""`--weights` files (`checkpoints.load_weights`): what the file is not is said plainly, and a small
archive that unpacks to gigabytes (a weights bomb) is refused before anything is allocated."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import model
from numpy.lib import format as npy

from incept_dsl.checkpoints import load_weights
from incept_dsl.cli import main
from incept_dsl.errors import UsageError

torch = pytest.importorskip("torch")

PROGRAM = "model w { input x: 3x4x4\n output y = x -> conv(8, 3, bn = true) }\n"


@pytest.fixture
def m():  # type: ignore[no-untyped-def]
    return model(PROGRAM)


def _npz_with_header(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """An .npz whose entry `key` declares `shape` but holds only a few bytes of data."""
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    buf.write(b"\0" * 64)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{key}.npy", buf.getvalue())


def test_npz_entry_declaring_another_shape_is_refused_from_its_header(m, tmp_path) -> None:
    p = tmp_path / "bomb.npz"
    _npz_with_header(p, "conv_1.conv.weight", (750_000_000,))
    with pytest.raises(UsageError, match=r"'conv_1.conv.weight' has shape \(750000000,\)"):
        load_weights(p, m.graph)


def test_npz_entry_declaring_gigabytes_is_refused(m, tmp_path) -> None:
    p = tmp_path / "bomb.npz"
    _npz_with_header(p, "extra", (750_000_000,))
    with pytest.raises(UsageError, match="too large for this model"):
        load_weights(p, m.graph)


def test_deflated_npz_bomb_is_refused(m, tmp_path) -> None:
    p = tmp_path / "zeros.npz"
    np.savez_compressed(p, extra=np.zeros(5_000_000, np.float32))  # 20 MB in ~20 KB
    assert p.stat().st_size < 1_000_000
    with pytest.raises(UsageError, match="too large for this model"):
        load_weights(p, m.graph)


def test_deflated_torch_zip_bomb_is_refused(m, tmp_path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save({"conv_1.conv.weight": torch.zeros(3_000_000)}, plain)  # 12 MB of one storage
    p = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert p.stat().st_size < 1_000_000
    with pytest.raises(UsageError) as err:
        load_weights(p, m.graph)
    assert "bomb.pt" in str(err.value) and "12,0" in str(err.value)
    assert "too large for this model" in str(err.value)


def test_fitting_weights_still_load(m, tmp_path) -> None:
    from incept_dsl.backends.torch.codegen import build_module

    state = build_module(m.graph).state_dict()
    torch.save(state, tmp_path / "ok.pt")
    np.savez_compressed(tmp_path / "ok.npz", **{k: v.numpy() for k, v in state.items()})
    assert set(load_weights(tmp_path / "ok.pt", m.graph)) == set(state)
    assert set(load_weights(tmp_path / "ok.npz", m.graph)) == set(state)


def test_unreadable_files_say_what_they_are_not(tmp_path) -> None:
    (tmp_path / "text.pt").write_text("hello\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.npz").write_text("hello\n")
    (tmp_path / "dir.pt").mkdir()
    cases = {
        "text.pt": "is not a PyTorch checkpoint or .npz archive",
        "empty.pt": "is empty",
        "text.npz": "is not a PyTorch checkpoint or .npz archive",
        "dir.pt": "is a directory",
    }
    for name, expected in cases.items():
        with pytest.raises(UsageError, match=expected):
            load_weights(tmp_path / name)
    with pytest.raises(UsageError, match="character device"):
        load_weights("/dev/zero")


def test_a_pickle_with_objects_is_refused_without_suggesting_to_run_it(
    tmp_path, capsys, recwarn
) -> None:
    import argparse

    src = tmp_path / "w.incept"
    src.write_text(PROGRAM)
    p = tmp_path / "obj.pt"
    torch.save({"conv_1.conv.weight": argparse.Namespace(x=1)}, p)
    args = ["compile", str(src), "--to", "onnx", "-o", str(tmp_path / "w.onnx"), "--weights"]
    assert main([*args, str(p)]) == 2
    err = capsys.readouterr().err
    assert "holds objects other than tensors" in err and "plain state_dicts" in err
    assert "weights_only" not in err and "site-packages" not in err and "Traceback" not in err
    assert not [w for w in recwarn if "torch" in str(w.filename)]
    assert not (tmp_path / "w.onnx").exists()
