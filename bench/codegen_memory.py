"""Peak CPU memory of a generated module's forward: the flat form (every layer run by the model's
class, as `compile --to torch` wrote it before block classes) against the structured form (one
class per block), at batch 16, in eval mode without autograd.

The peak is the highest running total of the CPU allocations and frees that
`torch.profiler.profile(profile_memory=True)` records during one forward (each op's own
allocations at its start, each free when it happens) (the input and the
weights, allocated before, are not counted), the median of `--runs` runs. Also prints each
file's line count, and the peak the cost table gives for the structured form
(`incept-dsl summary FILE -m MODEL --batch N`: every op output the forward holds, no temporaries
inside an op).

    python bench/codegen_memory.py                       # the default models
    python bench/codegen_memory.py resnet.incept:resnet50 --batch 16 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import types

import torch
from torch.profiler import ProfilerActivity, profile

import incept_dsl
from incept_dsl.backends.torch.codegen import torch_source

DEFAULT = [
    "googlenet.incept:googlenet",
    "googlenet.incept:googlenet_tv",
    "resnet.incept:resnet50",
    "inception_v3.incept:inception_v3",
    "inception_resnet_v2.incept:inception_resnet_v2",
    "vgg.incept:vgg16",
]


def _module(source: str, name: str) -> torch.nn.Module:
    mod = types.ModuleType(f"bench_{name}")
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)  # noqa: S102 - our generated code
    cls = next(v for k, v in vars(mod).items() if isinstance(v, type) and hasattr(v, "HEADS"))
    return cls().eval()


def peak_bytes(module: torch.nn.Module, x: torch.Tensor) -> int:
    """The highest running total of CPU memory allocated during one forward of `module`."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        module(x)
    # each op's own allocations (at its start) and the frees (`[memory]` events), in time order
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    total = peak = 0
    for e in events:
        total += e.self_cpu_memory_usage
        peak = max(peak, total)
    return peak


def measure(spec: str, batch: int, runs: int) -> None:
    file, model = spec.split(":")
    loaded = incept_dsl.load(file, model=model)
    graph = loaded.graph
    shape = graph.shape(graph.input_nodes()[0])
    torch.manual_seed(0)
    x = torch.randn(batch, *shape)
    row = [model]
    for flat in (True, False):
        source = torch_source(graph, flat=flat)
        module = _module(source, f"{model}_{'flat' if flat else 'classes'}")
        peaks = [peak_bytes(module, x) for _ in range(runs)]
        row += [str(source.count("\n")), f"{statistics.median(peaks) / 2**20:.1f}"]
    row.append(f"{loaded.summary(batch=batch).memory.peak_bytes / 2**20:.1f}")
    print(" | ".join(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=DEFAULT, help="file.incept:model")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("model | flat lines | flat peak MiB | classes lines | classes peak MiB | table peak MiB")
    for spec in args.models:
        measure(spec, args.batch, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
