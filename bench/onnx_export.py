"""ONNX benchmark: our IR-to-ONNX export against torch.onnx.export of the reference network.

    python bench/onnx_export.py                                   # every model, then latency
    python bench/onnx_export.py --models googlenet --rounds 3 --no-dynamo   # a quick run

1. Export time. For each model the reference (torchvision googlenet, inception_v3, resnet50;
   timm inception_resnet_v2) gets Kaiming-normal conv weights and random batch-norm statistics;
   `incept_dsl.copy_weights` copies them into our -O0 module. Timed, interleaved round by round
   after one untimed warm-up each, every round replacing the exporter's file of the round before
   (`--new-file`: removed first, untimed): `model.to_onnx(path, opt_level=L, state_dict=...)` (the -O0
   state_dict carried through the optimiser, serialised and written), our export with fresh numpy
   weights (no state_dict), and `torch.onnx.export` of the reference, legacy (`dynamo=False`) and
   dynamo. Every file is then run in onnxruntime and compared with the reference's eager output.
2. onnxruntime latency for GoogLeNet, batch 1, 2 intra-op threads, ORT_ENABLE_ALL: our exports
   against the reference's legacy and dynamo exports, interleaved, medians of the wall time and
   of the process's CPU time per run. Twice: the torchvision layout (reference: torchvision
   googlenet) and the paper's network with LRN (reference: our own -O0 PyTorch module exported
   by torch.onnx.export, as torchvision has no paper GoogLeNet).

Absolute times on a shared machine drift; compare the ratios, which come from interleaved runs
in one process.
"""

from __future__ import annotations

import argparse
import io
import os
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

from _references import SPECS, Spec, realistic, torchvision_shim  # noqa: E402

from incept_dsl.perf import busy_machine  # noqa: E402


def _torchvision_shim() -> None:
    torchvision_shim()


@dataclass
class Exporter:
    """One way to produce the ONNX file; `times` are seconds per timed round."""

    name: str
    run: Callable[[Path], None]
    rounds: int
    times: list[float] = field(default_factory=list)
    error: float | None = None
    nodes: int | None = None


def _legacy(ref: Any, x: Any) -> Callable[[Path], None]:
    import torch

    def run(path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                ref,
                (x,),
                str(path),
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "N"}},
            )

    return run


def _dynamo(ref: Any, x: Any) -> Callable[[Path], None]:
    import torch

    def run(path: Path) -> None:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                ref, (x,), str(path), dynamo=True, input_names=["image"], output_names=["logits"]
            )

    return run


class _quiet:
    """Silences the dynamo exporter's progress prints."""

    def __enter__(self) -> None:
        self.saved = sys.stdout
        sys.stdout = io.StringIO()

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self.saved


def _ours(model: Any, level: int, state: Any) -> Callable[[Path], None]:
    def run(path: Path) -> None:
        model.to_onnx(path, opt_level=level, state_dict=state)

    return run


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _rel(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-12))


def export_times(spec: Spec, args: argparse.Namespace, workdir: Path) -> list[Exporter]:
    import onnx
    import torch

    import incept_dsl

    model = incept_dsl.load(spec.file, model=spec.model)
    ref = realistic(spec.build())
    ours0 = model.to_torch()
    incept_dsl.copy_weights(ref, ours0)
    state = ours0.state_dict()
    x = torch.randn(1, 3, spec.size, spec.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = ref(x).numpy()
    cands = [
        Exporter(f"incept-dsl -O{lv}", _ours(model, lv, state), args.rounds) for lv in args.levels
    ]
    cands.append(Exporter("incept-dsl -O1, fresh weights", _ours(model, 1, None), args.rounds))
    cands.append(Exporter("torch.onnx.export legacy", _legacy(ref, x), args.rounds))
    if not args.no_dynamo:
        cands.append(Exporter("torch.onnx.export dynamo", _dynamo(ref, x), args.dynamo_rounds))
    paths = {c.name: workdir / f"{spec.model}-{i}.onnx" for i, c in enumerate(cands)}
    for c in cands:  # warm-up: imports, caches, the dynamo exporter's first compile
        c.run(paths[c.name])
    for r in range(max(c.rounds for c in cands)):
        for c in cands:
            if r < c.rounds:
                if args.new_file:  # untimed: the export then frees no old file
                    paths[c.name].unlink(missing_ok=True)
                t0 = time.perf_counter()
                c.run(paths[c.name])
                c.times.append(time.perf_counter() - t0)
    for c in cands:
        c.nodes = len(onnx.load(str(paths[c.name]), load_external_data=False).graph.node)
        if "fresh" not in c.name:
            got = _session(paths[c.name], args.threads).run(None, {"image": x.numpy()})[0]
            c.error = _rel(got, want)
    return cands


def export_table(spec: Spec, cands: list[Exporter]) -> str:
    legacy = next(c for c in cands if "legacy" in c.name)
    base = statistics.median(legacy.times)
    lines = [
        f"## export: {spec.model} ({spec.reference} as reference), input {spec.size}",
        "",
        "| exporter | median s | rounds | × faster than legacy | nodes | "
        "max rel. error vs reference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in cands:
        med = statistics.median(c.times)
        err = "–" if c.error is None else f"{c.error:.1e}"
        lines.append(
            f"| {c.name} | {med:.3f} | {len(c.times)} | {base / med:.2f} | {c.nodes} | {err} |"
        )
    return "\n".join(lines)


def _latency_files(
    paper: bool, args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, Path], Any, Any]:
    """The model files to time, the input and the reference output. The torchvision layout's
    reference is torchvision googlenet; the paper's (which torchvision lacks) is our own -O0
    PyTorch module, exported by torch.onnx.export."""
    import torch

    import incept_dsl

    spec = SPECS["googlenet"]
    model = incept_dsl.load(spec.file, model="googlenet" if paper else spec.model)
    ours0 = model.to_torch()
    ref = realistic(model.to_torch() if paper else spec.build())
    incept_dsl.copy_weights(ref, ours0)
    state = ours0.state_dict()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = ref(x).numpy()
    tag = "paper" if paper else "tv"
    files: dict[str, Path] = {"reference, legacy export": workdir / f"{tag}-legacy.onnx"}
    _legacy(ref, x)(files["reference, legacy export"])
    if not args.no_dynamo:
        files["reference, dynamo export"] = workdir / f"{tag}-dynamo.onnx"
        _dynamo(ref, x)(files["reference, dynamo export"])
    for lv in args.levels:
        files[f"incept-dsl -O{lv}"] = workdir / f"{tag}-O{lv}.onnx"
        model.to_onnx(files[f"incept-dsl -O{lv}"], opt_level=lv, state_dict=state)
    return files, x.numpy(), want


def latency(paper: bool, args: argparse.Namespace, workdir: Path) -> str:
    """onnxruntime latency of our GoogLeNet exports against the reference's, interleaved: wall
    time per run and the process's CPU time per run (steadier on a loaded machine)."""
    import numpy as np

    files, x, want = _latency_files(paper, args, workdir)
    sessions = {k: _session(p, args.threads) for k, p in files.items()}
    feed = {"image": x}
    errors = {k: _rel(s.run(None, feed)[0], want) for k, s in sessions.items()}
    wall: dict[str, list[float]] = {k: [] for k in sessions}
    cpu: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(args.warmup):
        for s in sessions.values():
            s.run(None, feed)
    for _ in range(args.latency_rounds):
        for k, s in sessions.items():
            for _ in range(args.runs_per_round):
                c0, t0 = time.process_time(), time.perf_counter()
                s.run(None, feed)
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    base = "reference, legacy export"
    bw, bc = statistics.median(wall[base]), statistics.median(cpu[base])
    which = "paper GoogLeNet (LRN)" if paper else "googlenet_tv (torchvision layout)"
    lines = [
        f"## onnxruntime latency: {which}, batch 1, {args.threads} threads, "
        f"{args.latency_rounds} interleaved rounds × {args.runs_per_round} runs",
        "",
        "| model file | median ms | p10–p90 ms | × vs legacy | CPU ms/run | × vs legacy "
        "(CPU) | max rel. error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for k in sessions:
        q = np.percentile(np.array(wall[k]) * 1e3, [10, 90])
        mw, mc = statistics.median(wall[k]), statistics.median(cpu[k])
        lines.append(
            f"| {k} | {mw * 1e3:.2f} | {q[0]:.1f}–{q[1]:.1f} | {bw / mw:.3f} | "
            f"{mc * 1e3:.2f} | {bc / mc:.3f} | {errors[k]:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=sorted(SPECS), default=list(SPECS))
    p.add_argument("--levels", type=int, nargs="+", choices=(0, 1, 2), default=[0, 1])
    p.add_argument("--rounds", type=int, default=5, help="timed export rounds (default 5)")
    p.add_argument(
        "--dynamo-rounds",
        type=int,
        default=2,
        help="timed rounds of the (slow) dynamo exporter (default 2)",
    )
    p.add_argument("--no-dynamo", action="store_true", help="skip the dynamo exporter")
    p.add_argument("--no-latency", action="store_true", help="skip the latency part")
    p.add_argument(
        "--new-file",
        action="store_true",
        help="remove each exporter's file before its timed run (by default every round "
        "replaces the file of the round before, as re-exporting does)",
    )
    p.add_argument("--latency-rounds", type=int, default=40)
    p.add_argument("--runs-per-round", type=int, default=5)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    _torchvision_shim()
    import onnxruntime
    import torch

    import incept_dsl

    torch.set_num_threads(args.threads)
    if busy := busy_machine(args.threads):
        print(busy, file=sys.stderr)
    print(
        f"# incept-dsl {incept_dsl.__version__}, torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, {args.threads} threads; medians of interleaved rounds\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models:
            spec = SPECS[name]
            print(export_table(spec, export_times(spec, args, work)), end="\n\n", flush=True)
        if not args.no_latency:
            for paper in (False, True):
                print(latency(paper, args, work), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
