"""Where the time goes, by kind of op: our `-O2` module against onnxruntime on torch.onnx's file.

    python bench/op_share.py                          # the four models of bench/peers.py, batch 1
    python bench/op_share.py --models googlenet --batch 1 --batch 16
    python bench/op_share.py --tune-allocator --batch 16  # freed memory kept mapped, as in peers.py

For `-O2` each op of a kind is timed where it runs, in the network: convs and linear layers are
modules (their `forward` is wrapped on the instance), pools and concatenations the functions
the generated file calls (`F.max_pool2d`, `F.avg_pool2d`, `F.adaptive_avg_pool2d`,
`torch.cat`, patched while the script runs); CPU ops are synchronous, so a call's wall time is
its cost, the conv module's Python (checks, the kernel's choice) included. "the rest" is the
timed forward less those kinds: the forward's own Python, slices and the copies they cause, the
timing's ~1 µs a call.

For onnxruntime the kinds are its own profiler's kernel times by op type (CPU, ORT_ENABLE_ALL:
the NCHWc ops of its optimised graph), summed per run; its "the rest" is the profiler's
`model_run` less those kernels (the executor, the reorder, flatten).

The four candidates are interleaved: `-O2` and onnxruntime as they are (the "whole" row), `-O2`
timed by kind and onnxruntime profiled; each sample is the best of three runs after `--pause`
seconds (a runtime's threads keep spinning after a run), and the kinds are taken from each
three's best run. Medians in ms. The two outputs are checked to agree (1e-4) first. Benchmark
on a quiet machine: the script warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, on_reference_weights, torchvision_shim  # noqa: E402
from peers import (  # noqa: E402
    DEFAULT_MODELS,
    RUNS_PER_SAMPLE,
    WARMUP_RUNS,
    Peer,
    _ort_peer,
    _torch_peer,
    ab_parser,
    check_outputs,
    onnx_files,
    sample,
)

from incept_dsl.perf import busy_machine  # noqa: E402

KINDS = ("conv", "max pool", "average pool", "concat", "linear")
#: onnxruntime's op types (its optimised graph's, domain left out) by kind; others are "the rest"
ORT_KINDS = {
    "Conv": "conv",
    "FusedConv": "conv",
    "MaxPool": "max pool",
    "AveragePool": "average pool",
    "GlobalAveragePool": "average pool",
    "Concat": "concat",
    "Gemm": "linear",
    "MatMul": "linear",
}
#: the functions of each kind that the generated forward calls, as (module, attribute name)
_FUNCTIONS = {
    "max pool": (("torch.nn.functional", "max_pool2d"),),
    "average pool": (
        ("torch.nn.functional", "avg_pool2d"),
        ("torch.nn.functional", "adaptive_avg_pool2d"),
    ),
    "concat": (("torch", "cat"),),
}


class Clock:
    """Wall time per kind of op, one counter per forward, while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.runs: list[collections.Counter[str]] = []


class Timed:
    """Stands in for one callable of a kind: calls it, and while the clock is on adds the
    call's wall time to the clock's current forward."""

    def __init__(self, fn: Callable[..., Any], kind: str, clock: Clock) -> None:
        self.fn, self.kind, self.clock = fn, kind, clock
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.clock.on:
            return self.fn(*args, **kwargs)
        t = time.perf_counter()
        out = self.fn(*args, **kwargs)  # CPU ops are synchronous: done when they return
        self.clock.runs[-1][self.kind] += time.perf_counter() - t
        self.calls += 1
        return out


def _targets(net: Any, kind: str) -> Iterator[tuple[Any, str]]:
    """(owner, attribute) of every callable of `kind` that `net`'s forward calls."""
    import importlib

    import torch.nn as nn

    if kind in ("conv", "linear"):
        cls = nn.Conv2d if kind == "conv" else nn.Linear
        yield from ((m, "forward") for m in net.modules() if isinstance(m, cls))
    else:
        yield from ((importlib.import_module(mod), name) for mod, name in _FUNCTIONS[kind])


@contextmanager
def timed_by_kind(net: Any) -> Iterator[tuple[Clock, list[Timed]]]:
    """Within the block every op of each kind in `net`'s forward is `Timed` on one clock."""
    clock = Clock()
    with ExitStack() as stack:
        stand_ins = []
        for kind in KINDS:
            for owner, name in _targets(net, kind):
                timed = Timed(getattr(owner, name), kind, clock)
                stack.enter_context(mock.patch.object(owner, name, timed))
                stand_ins.append(timed)
        yield clock, stand_ins


def _clocked_peer(name: str, net: Any, clock: Clock) -> Peer:
    """`net` on the input in channels-last memory, its ops timed by kind on `clock` and the
    forward's own wall time as "whole"."""
    import torch

    def run(x: Any) -> Any:
        t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        clock.on = True
        clock.runs.append(collections.Counter())
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                return net(t)
        finally:
            clock.on = False
            clock.runs[-1]["whole"] = time.perf_counter() - start

    return Peer(name, run)


@contextmanager
def ort_profiled(
    data: bytes, threads: int
) -> Iterator[tuple[Peer, list[collections.Counter[str]]]]:
    """An onnxruntime session with its profiler on, as a candidate; when the block ends the
    list holds each run's kernel time by kind and its "whole", in seconds."""
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.log_severity_level = 3
    runs: list[collections.Counter[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        o.enable_profiling, o.profile_file_prefix = True, str(Path(tmp) / "ort")
        s = ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])
        feed = s.get_inputs()[0].name
        yield Peer("onnxruntime, profiled", lambda x: s.run(None, {feed: x})[0]), runs
        events = json.loads(Path(s.end_profiling()).read_text())
    pending: collections.Counter[str] = collections.Counter()
    for e in events:  # a run's nodes are listed before its model_run event
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            pending[ORT_KINDS.get(e["args"]["op_name"], "other")] += e["dur"] / 1e6
        elif e.get("name") == "model_run":
            pending["whole"] = e["dur"] / 1e6
            runs.append(pending)
            pending = collections.Counter()


def best_of_three(runs: list[collections.Counter[str]]) -> list[collections.Counter[str]]:
    """The runs `sample` keeps: after its warm-up runs, the fastest of each sample's runs."""
    rest, n = runs[WARMUP_RUNS:], RUNS_PER_SAMPLE
    return [min(rest[i : i + n], key=lambda c: c["whole"]) for i in range(0, len(rest), n)]


def _medians_ms(runs: list[collections.Counter[str]]) -> dict[str, float]:
    """Medians over the runs, in ms, of each kind and of "the rest": a run's whole less its kinds."""
    for c in runs:
        c["the rest"] = c["whole"] - sum(c[k] for k in KINDS)
    return {k: statistics.median(c[k] for c in runs) * 1e3 for k in (*KINDS, "the rest")}


def share_rows(name: str, batch: int, args: Any) -> list[str]:
    """The table's rows for one model and batch size."""
    import numpy as np

    spec = SPECS[name]
    ref, model, state = on_reference_weights(spec)
    o2 = model.to_torch(opt_level=2, state_dict=state).eval()
    data = onnx_files(spec, ref, model, state)["torch.onnx"]
    x = np.random.default_rng(0).standard_normal((batch, 3, spec.size, spec.size))
    x = x.astype(np.float32)
    ort_peer = _ort_peer("onnxruntime", data, args.threads)
    with (
        timed_by_kind(o2) as (clock, stand_ins),
        ort_profiled(data, args.threads) as (prof, ort_runs),
    ):
        whole = _torch_peer("-O2", o2, channels_last=True)
        by_kind = _clocked_peer("-O2, timed by kind", o2, clock)
        check_outputs([whole, ort_peer], x, spec.model)  # stops the script if they differ
        sample([whole, by_kind, ort_peer, prof], x, args.rounds, args.pause)
    calls = collections.Counter({t.kind: 0 for t in stand_ins})
    for t in stand_ins:
        calls[t.kind] += t.calls // len(clock.runs)
    ours = _medians_ms(best_of_three(clock.runs))
    ort = _medians_ms(best_of_three(ort_runs))
    ours["whole"] = statistics.median(whole.times) * 1e3
    ort["whole"] = statistics.median(ort_peer.times) * 1e3
    out = []
    for k in ("whole", *KINDS, "the rest"):  # whole: untimed, as sampled
        if calls[k] or ort.get(k) or k in ("whole", "the rest"):
            a, b = ours.get(k, 0.0), ort.get(k, 0.0)
            n = f" ({calls[k]})" if calls[k] else ""
            out.append(f"| {spec.model} | {batch} | {k}{n} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = ab_parser(__doc__.split("\n")[0], DEFAULT_MODELS, "1")
    p.add_argument(
        "--tune-allocator",
        action="store_true",
        help="incept_dsl.tune_cpu_allocator() first, as bench/peers.py's option",
    )
    args = p.parse_args(argv)
    if args.tune_allocator:  # before torch is imported, for the huge pages
        from incept_dsl.backends.cpu_allocator import tune_cpu_allocator

        print(tune_cpu_allocator().describe())
    torchvision_shim()
    import torch

    torch.set_num_threads(args.threads)
    if busy := busy_machine(args.threads):
        print(busy, file=sys.stderr)
    print("| model | batch | kind (calls) | -O2 ms | onnxruntime ms | difference ms |")
    print("|---|---:|---|---:|---:|---:|")
    for name in args.models.split(","):
        for b in args.batch or [1]:
            print("\n".join(share_rows(name, b, args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
