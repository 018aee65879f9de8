"""Which rewrites help onnxruntime: its latency on torch.onnx's export of the reference against
our default `-O1` export (siblings unmerged: `passes.TARGET_SKIPS["onnx"]`) and our `-O1` export
with sibling-conv merging, as PyTorch gets it.

    python bench/onnx_rewrites.py                                  # googlenet, resnet50, inception_v3
    python bench/onnx_rewrites.py --models googlenet --batch 1 --rounds 3

For each model the reference (torchvision/timm, `_references.SPECS`) gets realistic weights,
`incept_dsl.copy_weights` copies them into our -O0 module, and three files are written in memory:
`torch.onnx.export` (legacy, dynamic batch), ours at -O1 (the default), and ours at -O1 with
`merge-sibling-convs` and `cancel-split-concat` as well. Each is checked against the reference's eager
output (relative difference below 1e-4), then timed in onnxruntime (CPU, `--threads` intra-op
threads, ORT_ENABLE_ALL), interleaved round by round; each sample is the best of three runs taken
after a 0.3 s pause (a runtime's spinning threads otherwise slow the next candidate). Medians,
p10/p90, and speed relative to torch.onnx's file. Benchmark on a quiet machine: the script warns
when the load average exceeds the thread count.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, on_reference_weights, torchvision_shim  # noqa: E402
from _timing import use_threads  # noqa: E402


def session(data: bytes, threads: int) -> Any:
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])


def files(name: str) -> tuple[dict[str, bytes], Any, int]:
    """The three ONNX files of model `name`, the reference, and its input side."""
    import torch

    import incept_dsl.passes as passes

    spec = SPECS[name]
    ref, model, state = on_reference_weights(spec)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = torch.randn(1, 3, spec.size, spec.size)
        torch.onnx.export(
            ref, x, buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}}
        )
    out = {"torch.onnx": buf.getvalue()}
    out["ours -O1"] = model.to_onnx(state_dict=state).SerializeToString()
    skips = passes.TARGET_SKIPS.pop("onnx")
    try:
        out["ours -O1 with merging"] = model.to_onnx(state_dict=state).SerializeToString()
    finally:
        passes.TARGET_SKIPS["onnx"] = skips
    return out, ref, spec.size


def timings(sessions: dict[str, Any], x: Any, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in sessions}
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    for k, s in sessions.items():  # warm-up
        for _ in range(2):
            s.run(None, feeds[k])
    for _ in range(rounds):
        for k, s in sessions.items():
            time.sleep(0.3)
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                s.run(None, feeds[k])
                best = min(best, time.perf_counter() - t)
            times[k].append(best)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="googlenet,resnet50,inception_v3")
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1 and 16)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torchvision_shim()
    import numpy as np
    import torch

    use_threads(args.threads)
    print("| model | batch | file | median ms | p10 | p90 | speed vs torch.onnx |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        data, ref, side = files(name)
        sessions = {k: session(v, args.threads) for k, v in data.items()}
        for b in args.batch or [1, 16]:
            x = np.random.default_rng(0).standard_normal((b, 3, side, side), np.float32)
            with torch.no_grad():
                want = ref(torch.from_numpy(x))
            want = (want if isinstance(want, torch.Tensor) else want[0]).numpy()
            for k, s in sessions.items():
                got = s.run(None, {s.get_inputs()[0].name: x})[0]
                err = float(np.linalg.norm(got - want) / np.linalg.norm(want))
                assert err < 1e-4, f"{name} {k}: relative difference {err:.1e}"
            times = timings(sessions, x, args.rounds)
            base = statistics.median(times["torch.onnx"])
            for k, ts in times.items():
                q = statistics.quantiles(ts, n=10) if len(ts) > 1 else [ts[0]] * 9
                med = statistics.median(ts)
                print(
                    f"| {name} | {b} | {k} | {med * 1e3:.2f} | {q[0] * 1e3:.2f} | "
                    f"{q[-1] * 1e3:.2f} | {base / med:.3f}× |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
