"""`incept-dsl bench FILE [--device cpu|cuda] [--batch N]`: time the compiled module per level.

Every candidate (the module at each `-O` level, optionally in bfloat16, optionally also compiled
for inference with `--frozen`) runs on the same input,
interleaved round by round in one process (the starting candidate rotates), so machine noise
falls on all of them alike; the table gives median latencies, throughput, the ratio to the first
candidate (-O0) and each output's error relative to -O0's. `bench/cpu.py` uses the same timing
core to add the reference implementations (torchvision, timm), which the package never imports.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from incept_dsl.backends.torch.init_schemes import DEFAULT_INIT, INIT_SCHEMES
from incept_dsl.commands.common import add_model_arguments, load_model
from incept_dsl.errors import UsageError
from incept_dsl.perf import busy_machine

HELP = "time the compiled module at -O0/-O1/-O2 (interleaved; medians and ratios)"


@dataclass
class Candidate:
    """One thing to time: `module(*inputs)` under `torch.no_grad()`."""

    name: str
    module: Any
    inputs: tuple[Any, ...]
    error: float | None = None  # output error relative to the reference candidate's
    times: list[float] = field(default_factory=list)

    def __call__(self) -> Any:
        return self.module(*self.inputs)

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.times)


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for queued device work (a no-op on the CPU)."""
    if device == "cuda":
        import torch

        return torch.cuda.synchronize
    return lambda: None


def run_interleaved(
    candidates: Sequence[Candidate],
    rounds: int,
    warmup: int,
    sync: Callable[[], None] = lambda: None,
) -> int | None:
    """Time every candidate `rounds` times, one call each per round, the first one rotating.

    Each candidate first runs `warmup` times untimed (weight packing, allocator, caches). Returns
    the process's minor page faults over the timed calls (None where the platform cannot say).
    """
    import torch

    from incept_dsl.backends.cpu_allocator import minor_faults

    with torch.no_grad():
        for c in candidates:
            for _ in range(warmup):
                c()
            sync()
        n = len(candidates)
        before = minor_faults()
        for r in range(rounds):
            for c in [*candidates[r % n :], *candidates[: r % n]]:
                start = time.perf_counter()
                c()
                sync()
                c.times.append(time.perf_counter() - start)
        after = minor_faults()
    return None if before is None or after is None else after - before


def relative_error(out: Any, ref: Any) -> float:
    """max |out - ref| / max |ref| over the first output tensor, in float32."""
    import torch

    def first(t: Any) -> Any:
        return t if isinstance(t, torch.Tensor) else t[0]

    a, b = first(out).float(), first(ref).float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def measure_errors(candidates: Sequence[Candidate], reference: Candidate) -> None:
    """Fill each candidate's `error` relative to `reference`'s output on the same input."""
    import torch

    with torch.no_grad():
        ref = reference()
        for c in candidates:
            c.error = relative_error(c(), ref)


def table(title: str, candidates: Sequence[Candidate], batch: int) -> str:
    """A Markdown table: median ms, images/s, speed-up over the first candidate, error."""
    base = candidates[0].median_ms
    lines = [
        f"{title}",
        "",
        "| candidate | median ms | images/s | speed-up vs first | rel. error |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in candidates:
        err = "–" if c.error is None else f"{c.error:.1e}"
        lines.append(
            f"| {c.name} | {c.median_ms:.2f} | {1000 * batch / c.median_ms:.1f} | "
            f"{base / c.median_ms:.2f}× | {err} |"
        )
    return "\n".join(lines)


def level_candidates(
    model: Any,
    levels: Sequence[int],
    batch: int,
    device: str,
    precisions: Sequence[str],
    state_dict: Any = None,
    init: str | None = None,
    seed: int = 0,
    frozen: bool = False,
) -> list[Candidate]:
    """The compiled module at each level (and precision) with the -O0 weights, on one input.

    `state_dict` is the -O0 module's (default: a fresh initialisation, seeded). With `frozen`,
    each level's module is followed by itself under `compile_for_inference` (named "... frozen").
    """
    import torch

    torch.manual_seed(seed)
    net0 = model.to_torch(init=init)
    if state_dict is not None:
        net0.load_state_dict(state_dict)
    state = net0.state_dict()
    xs = tuple(torch.randn(batch, *shape) for shape in model.inputs.values())
    out: list[Candidate] = []
    for precision in precisions:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
        for level in levels:
            if level == 0:
                net = net0 if precision == "fp32" else copy.deepcopy(net0)
            else:
                net = model.to_torch(opt_level=level, state_dict=state)
            net = net.eval().to(device=device, dtype=dtype)
            inputs = tuple(x.to(device=device, dtype=dtype) for x in xs)
            suffix = "" if precision == "fp32" else f" {precision}"
            out.append(Candidate(f"incept-dsl -O{level}{suffix}", net, inputs))
            if frozen:
                from incept_dsl.backends.torch.inference import compile_for_inference

                compiled = compile_for_inference(net)
                out.append(Candidate(f"incept-dsl -O{level}{suffix} frozen", compiled, inputs))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, opt_levels=False)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run")
    p.add_argument(
        "--batch", type=int, action="append", metavar="N", help="batch size (repeatable; default 1)"
    )
    p.add_argument(
        "--levels",
        default="0,1,2",
        metavar="L,L",
        help="optimisation levels to time (default 0,1,2)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "both"),
        default="fp32",
        help="bf16 is never implied by a level: ask for it here",
    )
    p.add_argument(
        "--frozen",
        action="store_true",
        help="also time each level compiled for inference (torch.compile with Inductor's "
        "freezing and C++ wrapper; compiles for tens of seconds per level and batch size)",
    )
    p.add_argument(
        "--tune-allocator",
        action="store_true",
        help="keep freed CPU memory mapped and put large tensors in huge pages for the whole "
        "run (incept_dsl.tune_cpu_allocator), as onnxruntime's arena does for itself",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--rounds", type=int, default=20, help="timed calls per candidate")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per candidate first")
    p.add_argument(
        "--init",
        default=None,
        choices=tuple(INIT_SCHEMES),
        help=f"weight initialisation (default {DEFAULT_INIT})",
    )


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or any(level not in (0, 1, 2) for level in levels):
        raise UsageError(f"--levels takes levels 0, 1, 2 separated by commas; got {text!r}")
    return levels


def _precision_error(
    err: Exception, model: str, device: str, precisions: Sequence[str]
) -> Exception:
    """A `UsageError` for `--precision bf16` when `err` says that PyTorch has no bfloat16 kernel
    for an op the model uses on `device` (or none for this CPU, naming the CPU features it lacks);
    else `err` itself (then a bug)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "bf16" not in precisions:
        return err
    if "bf16 path needs the cpu support" in text:
        from incept_dsl.backends.cpu_features import onednn_bf16_reason

        why = onednn_bf16_reason() or text
    elif "not implemented for 'BFloat16'" in text:
        why = f"PyTorch has no bfloat16 kernel on {device} for an op it uses ({text})"
    else:
        return err
    return UsageError(
        f"--precision bf16: {model} does not run in bfloat16 on {device}: {why}; "
        "use --precision fp32"
    )


def _frozen_error(err: Exception) -> UsageError | None:
    """A `UsageError` when `err` says that the compiled (`--frozen`) module computes wrongly."""
    from incept_dsl.backends.torch.inference import WrongCompiledOutput

    if isinstance(err, WrongCompiledOutput):
        return UsageError(f"--frozen: {err}; leave out --frozen")
    return None


def max_threads() -> int:
    """The most `--threads` bench accepts: 4 per CPU (more only slows the run or exhausts the
    thread pool's memory)."""
    return 4 * (os.cpu_count() or 1)


def _memory_error(err: Exception, batch: int, device: str) -> Exception:
    """A `UsageError` suggesting a smaller `--batch` when `err` is an allocation failure (a
    `MemoryError`, or torch's error, whose message speaks of memory or allocating); else `err`."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    lowered = text.lower()
    if not (isinstance(err, MemoryError) or "allocate" in lowered or "memory" in lowered):
        return err
    return UsageError(
        f"out of memory at --batch {batch} on {device} ({text}); try a smaller --batch"
    )


def _kernel_notes(
    args: argparse.Namespace, levels: Sequence[int], precisions: Sequence[str]
) -> None:
    """Refuse `--frozen` without a C++ compiler, else say that it compiles for a while; say when
    -O2 bf16 computes in float32."""
    if args.frozen:
        from incept_dsl.backends.torch.inference import compiler_missing

        if reason := compiler_missing():
            raise UsageError(f"--frozen: {reason}")
        print(
            "note: --frozen: torch.compile compiles each frozen candidate on its first call "
            "(tens of seconds per level and batch size)",
            file=sys.stderr,
        )
    if "bf16" in precisions and args.device == "cpu" and 2 in levels:
        from incept_dsl.backends.cpu_features import onednn_bf16_reason

        if reason := onednn_bf16_reason():
            print(
                f"note: {reason}: the -O2 bf16 candidates compute their convolutions in "
                "float32 (rounded to bfloat16); the others run PyTorch's slow bfloat16 path",
                file=sys.stderr,
            )


def run(args: argparse.Namespace) -> int:
    levels = _levels(args.levels)
    batches = args.batch or [1]
    if any(b < 1 for b in batches) or args.rounds < 1 or args.warmup < 0 or args.threads < 1:
        raise UsageError("--batch, --rounds and --threads must be positive, --warmup >= 0")
    if args.threads > max_threads():
        raise UsageError(
            f"--threads {args.threads} is more than this machine can use; "
            f"give at most {max_threads()} (4 per CPU)"
        )
    if args.tune_allocator:  # before torch is imported, for the huge pages
        from incept_dsl.backends.cpu_allocator import tune_cpu_allocator

        print(f"note: {tune_cpu_allocator().describe()}", file=sys.stderr)
    model = load_model(args)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    if args.device == "cpu" and (busy := busy_machine(args.threads)):
        print(busy, file=sys.stderr)
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    from incept_dsl.commands.batch_memory import check_batches_fit

    check_batches_fit(model, batches, args.device, precisions)  # before any tensor exists
    _kernel_notes(args, levels, precisions)
    for batch in batches:
        try:
            cands = level_candidates(
                model, levels, batch, args.device, precisions, init=args.init, frozen=args.frozen
            )
            measure_errors(cands, cands[0])  # the first call of every candidate
            faults = run_interleaved(cands, args.rounds, args.warmup, synchronizer(args.device))
        # torch reports a missing kernel as NotImplementedError or RuntimeError, and running out
        # of memory as MemoryError or RuntimeError (torch.OutOfMemoryError), and --frozen a wrong
        # compiled output as WrongCompiledOutput: a user's limit, or the compiler's, is a usage
        # error, anything else stays a bug
        except (MemoryError, NotImplementedError, RuntimeError) as err:
            usage = _frozen_error(err) or _precision_error(err, model.name, args.device, precisions)
            if usage is err:
                usage = _memory_error(err, batch, args.device)
            if usage is err:
                raise
            raise usage from err
        title = (
            f"{model.name}, batch {batch}, {args.device}"
            + (f", {args.threads} threads" if args.device == "cpu" else "")
            + f", median of {args.rounds} interleaved rounds"
        )
        print(table(title, cands, batch))
        print()
        if args.device == "cpu" and not args.tune_allocator and faults is not None:
            from incept_dsl.backends.cpu_allocator import fault_note

            if note := fault_note(faults, args.rounds * len(cands)):
                print(note, file=sys.stderr)
    return 0
