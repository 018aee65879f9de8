"""What onnxruntime makes of torch.onnx's file and of ours: the op counts of its optimised graphs.

    python bench/ort_graphs.py                          # the four models of bench/peers.py
    python bench/ort_graphs.py --models resnet50

For each model both files (`peers.onnx_files`: torch.onnx's legacy export of the reference with
realistic weights, and our default -O1 export of the same weights) are loaded into an
onnxruntime session (CPU, ORT_ENABLE_ALL) that saves its optimised graph; the script prints the
graph's nodes counted by domain and op type, and whether the two files' counts are the same. Its
NCHWc rewrites depend on the CPU (a block of 8 channels with AVX2, 16 with AVX-512), so run it on
the machine whose figures it explains.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, on_reference_weights, torchvision_shim  # noqa: E402
from peers import DEFAULT_MODELS, onnx_files  # noqa: E402


def optimised_ops(data: bytes, work: Path) -> collections.Counter[str]:
    """The nodes of onnxruntime's optimised graph of the model `data`, by domain:op type."""
    import onnx
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.log_severity_level = 3  # not the warning that an NCHWc graph fits only this CPU
    o.optimized_model_filepath = str(work / "optimised.onnx")
    ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])
    graph = onnx.load(o.optimized_model_filepath).graph
    return collections.Counter(f"{n.domain}:{n.op_type}" for n in graph.node)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"of {', '.join(sorted(SPECS))}")
    args = p.parse_args(argv)
    torchvision_shim()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            spec = SPECS[name]
            ref, model, state = on_reference_weights(spec)
            files = onnx_files(spec, ref, model, state)
            counts = {key: optimised_ops(data, Path(tmp)) for key, data in files.items()}
            same = len({tuple(sorted(c.items())) for c in counts.values()}) == 1
            print(f"## {name}: {'the same nodes' if same else 'different nodes'}")
            for key, c in counts.items():
                print(f"- {key}: " + ", ".join(f"{op} {n}" for op, n in sorted(c.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
