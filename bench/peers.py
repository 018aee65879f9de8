"""The compiled module and our ONNX file against every CPU peer, one model and batch at a time.

    python bench/peers.py                                     # the four models, batch 1
    python bench/peers.py --models resnet50 --batch 1 --batch 16 --rounds 5
    python bench/peers.py --no-compile --no-openvino          # quick: no compile, no OpenVINO
    python bench/peers.py --tune-allocator --frozen           # torch as tuned for serving

Candidates, on the same weights and input (the reference from torchvision/timm with realistic
weights, `_references.realistic`; `incept_dsl.copy_weights` into our -O0 module):

- the reference in PyTorch eager, NCHW (the baseline) and channels_last;
- the reference under `torch.compile` (default mode; `--no-compile` skips its slow compile);
- our `-O2` module (channels-last, BN folded, kernels chosen for this CPU);
- with `--frozen`, `incept_dsl.compile_for_inference` (`torch.compile` with Inductor's freezing,
  weights folded in as constants and prepacked, and C++ wrapper) of the channels-last reference
  and of the `-O2` module;
- onnxruntime (CPU, ORT_ENABLE_ALL) on `torch.onnx.export`'s file (legacy exporter) and on
  ours (`Model.to_onnx`, the default -O1 export);
- OpenVINO (CPU, latency hint, f32 precision) on both files, when the `openvino` package is
  installed (`pip install openvino`; a bench dependency only).

Every candidate's output is checked against the eager reference first (relative difference
below 1e-4); a `--frozen` candidate that fails is reported and left out (Inductor's freezing
gets timm's Inception-ResNet-v2 wrong), any other stops the script. Timing follows issue 18's
"Measuring honestly": torch uses `--threads` OpenMP threads, onnxruntime and OpenVINO as many;
rounds are interleaved, and each sample is the best of three runs taken after a `--pause`
(0.3 s), because a runtime's worker threads keep spinning after a run and slow whichever
candidate comes next. The table gives the median, p10 and p90 of the samples in milliseconds and
the speed relative to eager NCHW (higher is faster). The script warns when the load average
exceeds the thread count: benchmark on a quiet machine.

With `--tune-allocator`, `incept_dsl.tune_cpu_allocator()` runs before torch is imported: every
torch candidate then keeps freed memory mapped between calls instead of paying page faults for
fresh pages (onnxruntime and OpenVINO keep an arena of their own either way).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, Spec, on_reference_weights, torchvision_shim  # noqa: E402

from incept_dsl.perf import busy_machine  # noqa: E402

DEFAULT_MODELS = "googlenet,inception_v3,resnet50,inception_resnet_v2"


@dataclass
class Peer:
    """One candidate: a name and a function of the numpy input that returns the first output."""

    name: str
    run: Callable[[Any], Any]
    times: list[float] = field(default_factory=list)
    #: a wrong output drops this candidate (reported) instead of stopping the script
    optional: bool = False


def _first(out: Any) -> Any:
    import torch

    out = out if isinstance(out, torch.Tensor) else out[0]
    return out.float().numpy()


def _torch_peer(name: str, net: Any, channels_last: bool = False, optional: bool = False) -> Peer:
    """`net` under inference mode, on the input in NCHW or channels-last memory."""
    import torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def run(x: Any) -> Any:
        with torch.inference_mode():
            return _first(net(torch.from_numpy(x).contiguous(memory_format=fmt)))

    return Peer(name, run, optional=optional)


def _ort_peer(name: str, data: bytes, threads: int) -> Peer:
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])
    feed = s.get_inputs()[0].name
    return Peer(name, lambda x: s.run(None, {feed: x})[0])


def _openvino_peer(name: str, path: Path, batch: int, side: int, threads: int) -> Peer:
    import openvino as ov

    core = ov.Core()
    m = core.read_model(str(path))
    m.reshape({m.inputs[0].get_any_name(): [batch, 3, side, side]})
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",  # bf16 by default on AMX CPUs: not the same numbers
    }
    compiled = core.compile_model(m, "CPU", config)
    request = compiled.create_infer_request()

    def run(x: Any) -> Any:
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    return Peer(name, run)


def onnx_files(spec: Spec, ref: Any, model: Any, state: Any) -> dict[str, bytes]:
    """torch.onnx's legacy export of the reference (dynamic batch) and our default export."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = torch.randn(1, 3, spec.size, spec.size)
        torch.onnx.export(
            ref, (x,), buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}}
        )
    return {
        "torch.onnx": buf.getvalue(),
        "ours": model.to_onnx(state_dict=state).SerializeToString(),
    }


def peers(spec: Spec, batch: int, args: argparse.Namespace, work: Path) -> list[Peer]:
    """Every candidate for `spec` at `batch`, the eager NCHW reference first."""
    import copy

    import torch

    import incept_dsl

    ref, model, state = on_reference_weights(spec)
    out = [_torch_peer("eager NCHW", ref)]
    cl = copy.deepcopy(ref).to(memory_format=torch.channels_last)
    out.append(_torch_peer("eager channels_last", cl, channels_last=True))
    if not args.no_compile:
        out.append(_torch_peer("torch.compile", torch.compile(copy.deepcopy(ref))))
    o2 = model.to_torch(opt_level=2, state_dict=state).eval()
    out.append(_torch_peer("incept-dsl -O2", o2))
    if args.frozen:  # as the package compiles; check_outputs checks them against eager
        cl_frozen = incept_dsl.compile_for_inference(copy.deepcopy(cl), check=False)
        name = "torch.compile frozen, channels_last"
        out.append(_torch_peer(name, cl_frozen, channels_last=True, optional=True))
        o2_frozen = incept_dsl.compile_for_inference(copy.deepcopy(o2), check=False)
        out.append(_torch_peer("torch.compile frozen, of -O2", o2_frozen, optional=True))
    files = onnx_files(spec, ref, model, state)
    for key, data in files.items():
        out.append(_ort_peer(f"onnxruntime on {key}", data, args.threads))
    if _has_openvino(args):
        for key, data in files.items():
            path = work / f"{spec.model}-{key}.onnx"
            path.write_bytes(data)
            peer = _openvino_peer(f"OpenVINO on {key}", path, batch, spec.size, args.threads)
            out.append(peer)
    return out


def _has_openvino(args: argparse.Namespace) -> bool:
    if args.no_openvino:
        return False
    try:
        import openvino  # noqa: F401
    except ImportError:
        print("OpenVINO is not installed (pip install openvino); its columns are left out.")
        return False
    return True


def check_outputs(candidates: list[Peer], x: Any, label: str) -> list[Peer]:
    """The candidates whose output is within 1e-4 (relative) of the eager reference's. Any other
    stops the script, except an `optional` one, which is reported and left out."""
    import numpy as np

    want = candidates[0].run(x)
    kept = [candidates[0]]
    for c in candidates[1:]:
        got = c.run(x)
        err = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-12))
        if err <= 1e-4:
            kept.append(c)
        elif c.optional:
            print(f"{label} {c.name}: left out, relative difference {err:.1e} (over 1e-4)")
        else:
            raise SystemExit(f"{label} {c.name}: relative difference {err:.1e} (over 1e-4)")
    return kept


#: the untimed runs of each candidate before `sample`'s rounds, and the runs a sample is the best of
WARMUP_RUNS = 3
RUNS_PER_SAMPLE = 3


def sample(candidates: list[Peer], x: Any, rounds: int, pause: float) -> None:
    """Interleaved rounds; a sample is the best of `RUNS_PER_SAMPLE` runs taken after `pause`
    seconds, after `WARMUP_RUNS` untimed runs of each candidate."""
    for c in candidates:  # warm-up: first-run packing, allocator, compiled kernels
        for _ in range(WARMUP_RUNS):
            c.run(x)
    for r in range(rounds):
        n = len(candidates)
        for c in [*candidates[r % n :], *candidates[: r % n]]:
            time.sleep(pause)
            best = float("inf")
            for _ in range(RUNS_PER_SAMPLE):
                t = time.perf_counter()
                c.run(x)
                best = min(best, time.perf_counter() - t)
            c.times.append(best)


def rows(label: str, batch: int, candidates: list[Peer]) -> list[str]:
    base = statistics.median(candidates[0].times)
    out = []
    for c in candidates:
        ts = c.times
        q = statistics.quantiles(ts, n=10) if len(ts) > 1 else [ts[0]] * 9
        med = statistics.median(ts)
        out.append(
            f"| {label} | {batch} | {c.name} | {med * 1e3:.1f} | {q[0] * 1e3:.1f} | "
            f"{q[-1] * 1e3:.1f} | {base / med:.2f}× |"
        )
    return out


def ab_parser(description: str, models: str, batches: str) -> argparse.ArgumentParser:
    """The options of a script that times variants of our module: --models, --batch
    (repeatable), --rounds, --threads, --pause."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--models", default=models, help=f"of {', '.join(SPECS)}")
    p.add_argument("--batch", type=int, action="append", help=f"repeatable (default {batches})")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.2, help="seconds before each sample")
    return p


def timed_rows(
    label: str, batch: int, side: int, candidates: list[Peer], rounds: int, pause: float
) -> list[str]:
    """`rows` for the candidates on one seeded random batch of `side`×`side` images, after
    `check_outputs` (a wrong output stops the script) and `sample`."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal((batch, 3, side, side)).astype(np.float32)
    candidates = check_outputs(candidates, x, label)
    sample(candidates, x, rounds, pause)
    return rows(label, batch, candidates)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"of {', '.join(sorted(SPECS))}")
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.3, help="seconds before each sample")
    p.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    p.add_argument("--no-openvino", action="store_true", help="leave out OpenVINO")
    p.add_argument(
        "--frozen",
        action="store_true",
        help="add torch.compile with Inductor's freezing and C++ wrapper (reference and -O2)",
    )
    p.add_argument(
        "--tune-allocator",
        action="store_true",
        help="incept_dsl.tune_cpu_allocator() first: every torch candidate then keeps its "
        "freed memory mapped, as onnxruntime and OpenVINO do",
    )
    args = p.parse_args(argv)
    tuning = None
    if args.tune_allocator:  # before torch is imported, for the huge pages
        from incept_dsl.backends.cpu_allocator import tune_cpu_allocator

        tuning = tune_cpu_allocator().describe()
    torchvision_shim()
    import torch

    from incept_dsl.backends.cpu_features import cpu_capability

    torch.set_num_threads(args.threads)
    if busy := busy_machine(args.threads):
        print(busy, file=sys.stderr)
    print(
        f"{cpu_name()} ({cpu_capability() or platform.machine()}), {args.threads} threads, "
        f"torch {torch.__version__}" + (f"\n{tuning}" if tuning else "")
    )
    print("\n| model | batch | candidate | median ms | p10 | p90 | speed vs eager NCHW |")
    print("|---|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            spec = SPECS[name]
            for b in args.batch or [1]:
                candidates = peers(spec, b, args, Path(tmp))
                table = timed_rows(spec.model, b, spec.size, candidates, args.rounds, args.pause)
                print("\n".join(table), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
