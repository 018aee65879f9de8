"""What `incept_dsl.tune_cpu_allocator()` does to `-O2`: the same module with and without it.

    python bench/allocator.py                                   # the four models, batch 1 and 16
    python bench/allocator.py --models googlenet --batch 16 --rounds 5

The setting is process-wide and huge pages can only be turned on before torch is imported, so
each sample is a child process of its own: it builds the bundled model's `-O2` module (fresh
weights) and times `--runs` calls under `torch.inference_mode()` after three untimed ones,
counting the minor page faults of the timed calls. Three variants: "off" (untuned), "late"
(tuned after importing torch: freed memory kept, no huge pages) and "early" (tuned before: huge
pages too). Their children take turns (which goes first rotates), `--rounds` of each, each after
a `--pause`. The table gives the median over the children of each child's median, the range of
the children's medians, the speed relative to "off", and the page faults per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _references import SPECS  # noqa: E402 - neither imports torch
from peers import DEFAULT_MODELS  # noqa: E402

#: untuned; tuned after torch is imported (heap only); tuned before (heap and huge pages)
VARIANTS = ("off", "late", "early")


def child(args: argparse.Namespace) -> None:
    """One sample: print {"ms": median, "faults": per call, "tuning": describe()} as JSON."""
    from incept_dsl.backends.cpu_allocator import minor_faults, tune_cpu_allocator

    tuning = "untuned"
    if args.tune == "early":  # before torch is imported: huge pages too
        tuning = tune_cpu_allocator().describe()
    import torch

    if args.tune == "late":
        tuning = tune_cpu_allocator().describe()

    import incept_dsl

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = SPECS[args.child]
    net = incept_dsl.load(spec.file, model=spec.model).to_torch(opt_level=2).eval()
    x = torch.randn(args.batch[0], 3, spec.size, spec.size).contiguous(
        memory_format=torch.channels_last
    )
    times = []
    with torch.inference_mode():
        for _ in range(3):
            net(x)
        start = minor_faults()
        for _ in range(args.runs):
            t = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t)
        end = minor_faults()
    faults = None if start is None or end is None else (end - start) / args.runs
    ms = statistics.median(times) * 1e3
    print(json.dumps({"ms": ms, "faults": faults, "tuning": tuning}))


def sample(name: str, batch: int, tune: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--batch", str(batch), "--tune", tune]
    cmd += ["--runs", str(args.runs), "--threads", str(args.threads)]
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise SystemExit(f"{name} batch {batch}: the child failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def compare(name: str, batch: int, args: argparse.Namespace) -> str:
    """One table row: each variant's median over its children (range), speed and faults."""
    got: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        for v in [*VARIANTS[r % 3 :], *VARIANTS[: r % 3]]:
            time.sleep(args.pause)
            got[v].append(sample(name, batch, v, args))
    base = statistics.median(s["ms"] for s in got["off"])
    cells = []
    for v in VARIANTS:
        ms = [s["ms"] for s in got[v]]
        med = statistics.median(ms)
        counts = [s["faults"] for s in got[v] if s["faults"] is not None]
        faults = f"{statistics.median(counts):.0f}" if counts else "?"
        cells.append(f"{med:.1f} ({min(ms):.1f}–{max(ms):.1f}) | {base / med:.2f}× | {faults}")
    return f"| {name} | {batch} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"of {', '.join(sorted(SPECS))}")
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1 and 16)")
    p.add_argument("--rounds", type=int, default=3, help="children of each kind")
    p.add_argument("--runs", type=int, default=9, help="timed calls in each child")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=1.0, help="seconds before each child")
    p.add_argument("--child", choices=tuple(SPECS), help=argparse.SUPPRESS)
    p.add_argument("--tune", choices=VARIANTS, default="off", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    from incept_dsl.backends.cpu_allocator import thp_mode
    from incept_dsl.perf import busy_machine

    if busy := busy_machine(args.threads):
        print(busy, file=sys.stderr)
    print(f"{args.threads} threads; kernel transparent huge pages: {thp_mode() or 'unknown'}")
    first = args.models.split(",")[0]
    for v in VARIANTS[1:]:
        print(f"{v}: {sample(first, 1, v, args)['tuning']}")
    head = " | ".join(f"{v} ms (range) | speed | faults/call" for v in VARIANTS)
    print(f"\n| model | batch | {head} |")
    print("|---|---:|" + "---:|" * 3 * len(VARIANTS))
    for name in args.models.split(","):
        for batch in args.batch or [1, 16]:
            print(compare(name, batch, args), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
