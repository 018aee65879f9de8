"""`--weights` entries (`incept_dsl.backends.state_arrays`): only dense real tensors; anything
else is a usage error naming the key, never an internal error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from incept_dsl.backends.state_arrays import numpy_state
from incept_dsl.cli import main
from incept_dsl.errors import UsageError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # beta sparse CSR, deprecated qint8

PROGRAM = "model w { input x: 3x4x4\n output y = x -> conv(8, 3, bn = true) }\n"


def test_dense_tensors_and_arrays_pass() -> None:
    out = numpy_state(
        {
            "a": torch.ones(2, 3),
            "b": torch.ones(2, dtype=torch.bfloat16),
            "n": torch.tensor(3),
            "c": np.zeros((1, 2), np.float16),
        }
    )
    assert out["a"].shape == (2, 3) and out["b"].dtype == np.float32
    assert out["n"].dtype == np.int64 and out["c"].dtype == np.float16


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (lambda: torch.ones(2, 2).to_sparse(), "sparse_coo tensor"),
        (lambda: torch.ones(2, 2).to_sparse_csr(), "sparse_csr tensor"),
        (lambda: torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8), "quantized"),
        (lambda: torch.ones(2, dtype=torch.complex64), "complex"),
        (lambda: torch.empty(2, device="meta"), "meta device"),
        (lambda: 3, "an int"),
        (lambda: "text", "a str"),
        (lambda: {"nested": torch.ones(1)}, "a dict"),
        (lambda: np.array(["a"]), "array of <U1"),
        (lambda: np.array([object()]), "array of object"),
    ],
    ids=[
        "sparse",
        "csr",
        "quantized",
        "complex",
        "meta",
        "int",
        "str",
        "dict",
        "strings",
        "objects",
    ],
)
def test_other_entries_are_usage_errors_naming_the_key(value, what: str) -> None:
    with pytest.raises(UsageError, match=what) as e:
        numpy_state({"layer.weight": value()})
    assert "'layer.weight'" in str(e.value)


def test_non_string_keys_and_non_mappings() -> None:
    with pytest.raises(UsageError, match="not a string"):
        numpy_state({3: torch.ones(1)})
    with pytest.raises(UsageError, match="not a state_dict"):
        numpy_state([torch.ones(1)])  # type: ignore[arg-type]


def _fresh_state(tmp_path: Path) -> tuple[Path, dict]:
    import incept_dsl

    src = tmp_path / "w.incept"
    src.write_text(PROGRAM)
    return src, dict(incept_dsl.load(src).to_torch().state_dict())


@pytest.mark.parametrize("kind", ["sparse", "number", "corrupt", "list"])
def test_cli_bad_checkpoints_are_usage_errors(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, state = _fresh_state(tmp_path)
    ckpt = tmp_path / "w.pt"
    key = next(k for k in state if k.endswith("weight"))
    if kind == "sparse":
        state[key] = state[key].to_sparse()
        torch.save(state, ckpt)
    elif kind == "number":
        state[key] = 1.5
        torch.save(state, ckpt)
    elif kind == "list":
        torch.save([state[key]], ckpt)
    else:
        ckpt.write_bytes(b"\x80\x02not a checkpoint" * 10)
    rc = main(
        [
            "compile",
            str(src),
            "--to",
            "onnx",
            "-o",
            str(tmp_path / "w.onnx"),
            "--weights",
            str(ckpt),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "internal error" not in err and "Traceback" not in err
    if kind in ("sparse", "number"):
        assert repr(key) in err
    assert not (tmp_path / "w.onnx").exists()
