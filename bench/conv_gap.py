"""Where `-O2` loses to onnxruntime: every convolution timed inside the network and alone.

    python bench/conv_gap.py                       # ResNet-50, batch 1
    python bench/conv_gap.py --model googlenet --batch 16

Three measurements, on the same weights (`_references.realistic`), `--threads` threads:

1. Inside the network: our `-O2` module with forward hooks timing each conv (grouped by shape:
   kernel, stride, channels, input size) and `torch.profiler`'s time per op, against
   onnxruntime's own profile of torch.onnx's file (its per-node kernel times, by op type).
2. Alone: for a few of the network's conv shapes, oneDNN's fused kernel on pre-packed weights
   (what `-O2` calls), `F.conv2d` in channels-last, oneDNN's blocked layout (`torch.utils.mkldnn`)
   and TorchScript's prepacked convolution (`torch.ops.mkldnn_prepacked`, prepared once).
3. The fixed cost of one call: each of those on a 1x1 conv of 8 channels at 4x4; and, for
   oneDNN's fused op, how much of that call oneDNN itself reports (its verbose log: fetching the
   primitive from its cache, and executing it). The rest is spent around it in PyTorch and ideep.

Medians of `--runs` runs after warm-up. Run it on a quiet machine (it warns otherwise).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, realistic, torchvision_shim  # noqa: E402
from _timing import median_seconds, use_threads  # noqa: E402

#: (kernel, stride, in channels, out channels, input side) timed alone.
ALONE = [(3, 1, 64, 64, 56), (3, 1, 256, 256, 14), (1, 1, 256, 1024, 14), (3, 1, 512, 512, 7)]


def median_ms(f: Callable[[], Any], runs: int) -> float:
    return median_seconds(f, runs, warmup=5) * 1e3


def ours_by_shape(net: Any, x: Any, runs: int) -> tuple[float, dict[str, list[float]]]:
    """-O2's forward time and each conv's median time (ms), grouped by shape."""
    import torch

    times: dict[str, list[float]] = collections.defaultdict(list)
    key: dict[Any, str] = {}

    def pre(m: Any, _: Any) -> None:
        m._started = time.perf_counter()

    def post(m: Any, inp: Any, _: Any) -> None:
        k, s = m.weight.shape[2], m.stride[0]
        key.setdefault(m, f"{k}x{k}/{s} {m.in_channels}->{m.out_channels} @{inp[0].shape[-1]}")
        times[f"{id(m)}"].append(time.perf_counter() - m._started)

    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks = [
        h for m in convs for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))
    ]
    with torch.inference_mode():
        total = median_ms(lambda: net(x), runs)
    for h in hooks:
        h.remove()
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for m in convs:
        groups[key[m]].append(statistics.median(times[f"{id(m)}"]) * 1e3)
    return total, groups


def ours_by_op(net: Any, x: Any, runs: int) -> list[tuple[str, float]]:
    """-O2's self CPU time per run by PyTorch op (torch.profiler; ms), largest first."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        for _ in range(3):
            net(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                net(x)
    ops = [(e.key, e.self_cpu_time_total / 1e3 / runs) for e in prof.key_averages()]
    return sorted(ops, key=lambda kv: -kv[1])


def ort_by_op(
    ref: Any, x: Any, threads: int, runs: int
) -> tuple[float, dict[str, float], list[tuple[float, str]]]:
    """onnxruntime's run time on torch.onnx's file, its profile's kernel time per op and its
    slowest nodes (ms, node name)."""
    import onnxruntime as ort
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ref, (x,), buf, dynamo=False, input_names=["x"])
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.enable_profiling = True
    o.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    s = ort.InferenceSession(buf.getvalue(), o, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    total = median_ms(lambda: s.run(None, {"x": xn}), runs)
    events = json.loads(Path(s.end_profiling()).read_text())
    per_node: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["args"].get("op_name", "?"), e["name"])].append(e["dur"] / 1e3)
    by_op: dict[str, float] = collections.defaultdict(float)
    nodes = []
    for (op, name), durations in per_node.items():
        by_op[op] += statistics.median(durations[-runs:])
        nodes.append((statistics.median(durations[-runs:]), name.removesuffix("_kernel_time")))
    return total, by_op, sorted(nodes, reverse=True)


def alone(shape: tuple[int, int, int, int, int], batch: int, runs: int) -> list[float]:
    """oneDNN fused on packed weights, F.conv2d channels-last, oneDNN blocked layout (ms)."""
    import torch
    from torch.utils import mkldnn

    k, s, cin, cout, side = shape
    conv = torch.nn.Conv2d(cin, cout, k, s, k // 2).eval()
    x = torch.randn(batch, cin, side, side)
    cl = x.contiguous(memory_format=torch.channels_last)
    args = ([k // 2] * 2, [s] * 2, [1, 1], 1)
    packed = torch.ops.mkldnn._reorder_convolution_weight(
        conv.weight.detach(), *args, list(x.shape)
    )
    blocked, xb = mkldnn.to_mkldnn(torch.nn.Sequential(conv))[0], x.to_mkldnn()
    pointwise = torch.ops.mkldnn._convolution_pointwise
    prepacked = torch.ops.mkldnn_prepacked
    w, b = conv.weight.detach(), conv.bias.detach()
    context = prepacked.conv2d_prepack(
        w, b, [s] * 2, [k // 2] * 2, [1, 1], 1, list(x.shape), "relu"
    )
    with torch.inference_mode():
        return [
            median_ms(lambda: pointwise(cl, packed, conv.bias, *args, "relu", [], ""), runs),
            median_ms(lambda: torch.relu(conv(cl)), runs),
            median_ms(lambda: blocked(xb), runs),
            median_ms(lambda: prepacked.conv2d_run(cl, context), runs),
        ]


def _onednn_log(call: Callable[[], Any], runs: int) -> list[str]:
    """oneDNN's verbose lines (primitive creation and execution) for `runs` calls of `call`,
    read from file descriptor 1, where oneDNN writes them."""
    import torch

    with tempfile.TemporaryFile("w+") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON_CREATION):
                for _ in range(runs):
                    call()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        return log.read().splitlines()


def onednn_share(runs: int) -> tuple[float, float, float]:
    """The fused op's call on the 8-channel 1x1 conv at 4x4 (median µs), and the medians oneDNN
    reports for getting the primitive from its cache and for executing it."""
    import torch

    x = torch.randn(1, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(8, 8, 1).eval()
    args = ([0, 0], [1, 1], [1, 1], 1)
    packed = torch.ops.mkldnn._reorder_convolution_weight(conv.weight.detach(), *args, [1, 8, 4, 4])
    pointwise = torch.ops.mkldnn._convolution_pointwise

    def call() -> Any:
        return pointwise(x, packed, conv.bias, *args, "relu", [], "")

    with torch.inference_mode():
        wall = median_seconds(call, runs, warmup=20) * 1e6
        lines = _onednn_log(call, runs)
    reported: dict[str, list[float]] = {"create": [], "exec": []}
    for line in lines:
        f = line.split(",")
        if f[0] != "onednn_verbose" or "primitive" not in f[:3] or "convolution" not in f[:7]:
            continue
        what = f[f.index("primitive") + 1]
        kind = "create" if what.startswith("create:cache") else "exec" if what == "exec" else ""
        if kind:
            reported[kind].append(float(f[-1]) * 1e3)  # oneDNN logs milliseconds
    if not reported["create"] or not reported["exec"]:
        raise RuntimeError("oneDNN wrote no verbose lines for the conv; cannot split its call")
    return wall, statistics.median(reported["create"]), statistics.median(reported["exec"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet50", choices=sorted(SPECS))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=15)
    args = p.parse_args(argv)
    torchvision_shim()
    import torch

    import incept_dsl

    use_threads(args.threads)
    spec = SPECS[args.model]
    ref = realistic(spec.build()).eval()
    model = incept_dsl.load(spec.file, model=spec.model)
    o0 = model.to_torch().eval()
    incept_dsl.copy_weights(ref, o0)
    o2 = model.to_torch(opt_level=2, state_dict=o0.state_dict()).eval()
    x = torch.randn(args.batch, 3, spec.size, spec.size)
    total, groups = ours_by_shape(o2, x, args.runs)
    convs = sum(sum(v) for v in groups.values())
    print(f"## {args.model}, batch {args.batch}, {args.threads} threads\n")
    print(f"-O2: {total:.1f} ms per run, {convs:.1f} ms in its convs (hooks add a little)")
    mine = ", ".join(f"{op} {t:.2f}" for op, t in ours_by_op(o2, x, args.runs)[:8])
    print(f"-O2's self CPU ms per run by op (torch.profiler): {mine}")
    ort_total, by_op, nodes = ort_by_op(ref, x, args.threads, args.runs)
    ops = ", ".join(f"{op} {t:.2f}" for op, t in sorted(by_op.items(), key=lambda kv: -kv[1]))
    print(f"onnxruntime on torch.onnx's file: {ort_total:.1f} ms per run; kernel ms by op: {ops}")
    print("its slowest nodes: " + ", ".join(f"{n} {t:.3f}" for t, n in nodes[:12]) + "\n")
    print("| conv (kernel/stride in->out @side) | count | -O2 ms each, in the network |")
    print("|---|---:|---:|")
    for name, ts in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:12]:
        print(f"| {name} | {len(ts)} | {statistics.median(ts):.3f} |")
    print(
        "\n| conv alone | oneDNN fused, packed | F.conv2d channels-last | oneDNN blocked "
        "| TorchScript prepacked |"
    )
    print("|---|---:|---:|---:|---:|")
    for shape in [*ALONE, (1, 1, 8, 8, 4)]:
        k, s, cin, cout, side = shape
        ms = alone(shape, args.batch, args.runs * 4)
        print(f"| {k}x{k}/{s} {cin}->{cout} @{side} | " + " | ".join(f"{t:.3f}" for t in ms) + " |")
    wall, create, execute = onednn_share(args.runs * 20)
    print(
        f"\noneDNN's fused op on the 1x1 8->8 conv at 4x4: {wall:.1f} µs a call, of which oneDNN "
        f"reports {create:.1f} µs getting the primitive from its cache and {execute:.1f} µs "
        f"executing it; the other {wall - create - execute:.1f} µs are spent around it, in "
        "PyTorch and ideep"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
