"""Data-parallel training of a compiled `.incept` model with DistributedDataParallel.

    torchrun --standalone --nproc_per_node=2 examples/train_ddp.py --steps 20        # CPU, gloo
    torchrun --standalone --nproc_per_node=8 examples/train_ddp.py --device cuda --amp  # NCCL

Every process builds the same module from the program, moves it to its device (`cuda:LOCAL_RANK`
on GPUs) and wraps it in `DistributedDataParallel`, which broadcasts rank 0's parameters and
buffers at construction and averages gradients in every backward. Each rank reads its own shard
of the synthetic data of `train_synthetic.py` through a `DistributedSampler`.

Aux heads: in training mode the module returns every head and the loss uses them all, so every
parameter receives a gradient each step and `find_unused_parameters` stays False (it is switched
on only when the program has layers that no head reads; `--find-unused` forces it). Batch-norm
statistics are per replica; DDP re-broadcasts rank 0's buffers before each forward
(`broadcast_buffers=True`), and the script averages them over the ranks after the last step,
so the replicas end identical; `--sync-bn` (CUDA only) uses `SyncBatchNorm` instead.

`--fsdp` shards instead (FSDP2 `fully_shard`, one group per top-level scope; see
`fully_shard_by_scope`), for models whose parameters, gradients and optimiser state outgrow one
device; `--out` then gathers the full tensors before saving.

With `--out DIR` each rank writes `DIR/rank<r>.pt` (its state_dict, on the CPU) and rank 0 writes
`DIR/metrics.json` (the evaluation-mode loss on a fixed held-out batch before and after
training, the per-step training losses averaged over ranks); the tests compare the replicas.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_synthetic import (  # noqa: E402
    autocast,
    first_output,
    load_model,
    make_optimizer,
    synthetic_dataset,
    synthetic_images,
    to_device,
)

import incept_dsl  # noqa: E402


def unused_layers(model: incept_dsl.Model) -> list[str]:
    """Scopes of parametric layers that no head (output or aux) reads."""
    import networkx as nx

    g = model.graph
    used: set[int] = set()
    for h in g.heads:
        used |= nx.ancestors(g.nx, h.node) | {h.node}
    return [
        g.scope(n)
        for n in g.order()
        if g.op(n) in ("conv", "batchnorm", "linear") and n not in used
    ]


def average_buffers(module: torch.nn.Module) -> None:
    """Average every floating-point buffer (BN running statistics) over the ranks, in place.

    DDP broadcasts rank 0's buffers at the start of each forward, so after the last step each
    replica holds statistics updated by its own last batch; averaging makes the replicas equal
    (and the statistics reflect every shard) before evaluating or saving.
    """
    world = dist.get_world_size()
    for buf in module.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(world)


def fully_shard_by_scope(net: torch.nn.Module, device: torch.device) -> None:
    """Shard `net` with FSDP2 over all ranks: one group per top-level scope, then the root.

    The generated `forward` calls the conv/bn/linear layers themselves, never the scope
    containers (plain `nn.Module`s without a forward), so each group is the *list* of a scope's
    layers: FSDP's hooks on them all-gather the group's parameters before the first one runs
    and reduce-scatter its gradients in one collective. Optimisers must be made afterwards
    (the parameters become `DTensor` shards).
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    layers = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.BatchNorm1d, torch.nn.Linear)
    for scope in net.children():
        group = [m for m in scope.modules() if isinstance(m, layers)]
        if group:
            fully_shard(group, mesh=mesh)
    fully_shard(net, mesh=mesh)


def setup(device_arg: str) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes; (rank, world size, this rank's device)."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device_arg.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit("error: --device cuda but torch.cuda.is_available() is False")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device


def run(args: argparse.Namespace) -> None:
    model = load_model(args)  # before joining: a program error stops every rank the same way
    rank, world, device = setup(args.device)
    torch.manual_seed(args.seed)  # same initial weights everywhere (DDP broadcasts them anyway)
    if args.threads:
        torch.set_num_threads(args.threads)
    amp = torch.bfloat16 if args.amp else None

    shape = next(iter(model.inputs.values()))
    net = model.to_torch(init=args.init).to(device)
    if args.channels_last and not args.fsdp:  # FSDP2 shards contiguous parameters only; the
        net = net.to(memory_format=torch.channels_last)  # NHWC batches still pick NHWC kernels
    if args.sync_bn:
        if device.type != "cuda":
            raise SystemExit("error: --sync-bn needs --device cuda (SyncBatchNorm is GPU-only)")
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    find_unused = args.find_unused or bool(unused_layers(model))
    if args.fsdp:
        fully_shard_by_scope(net, device)
        ddp = net  # FSDP2 shards in place: `net` now all-gathers and reduce-scatters itself
    else:
        ddp = DistributedDataParallel(
            net,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused,
        )
    step_fn = torch.compile(ddp) if args.compile else ddp

    data = synthetic_dataset(args.train_size, shape, args.classes, args.seed)
    sampler = DistributedSampler(
        data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True
    )
    loader = DataLoader(
        data,
        batch_size=args.batch_size,
        sampler=sampler,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    held_x, held_y = synthetic_images(args.batch_size * 4, shape, args.classes, args.seed + 1)
    held = to_device((held_x, held_y), device, args.channels_last)

    opt = make_optimizer(net.parameters(), args.optimizer, args.lr, args.weight_decay)

    head = next(iter(model.outputs))

    def held_out_loss() -> float:
        """Cross-entropy of the first output on a fixed batch, in evaluation mode."""
        net.eval()  # not through DDP: no gradient sync here (FSDP still all-gathers: every rank)
        with torch.no_grad(), autocast(device, amp):
            logits = first_output(net(held[0]), head)
        net.train()
        return torch.nn.functional.cross_entropy(logits.float(), held[1]).item()

    before = held_out_loss()
    if rank == 0:
        print(
            f"{model!r} on {world} {device.type} processes ({dist.get_backend()}), "
            + ("FSDP2" if args.fsdp else f"DDP, find_unused_parameters={find_unused}")
            + f"; held-out loss {before:.3f}",
            flush=True,
        )
    losses: list[float] = []
    start = time.perf_counter()
    step, epoch = 0, 0
    while step < args.steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            if step >= args.steps:
                break
            ddp.train()
            x, y = to_device(batch, device, args.channels_last)
            with autocast(device, amp):
                loss, _ = net.loss(step_fn(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # DDP all-reduces (averages) the gradients here
            opt.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            losses.append(mean.item() / world)
            step += 1
            if rank == 0 and (step % args.log_every == 0 or step == args.steps):
                print(f"step {step}/{args.steps}: loss {losses[-1]:.3f}", flush=True)
        epoch += 1
    seconds = time.perf_counter() - start
    average_buffers(net)
    after = held_out_loss()
    if rank == 0:
        images = step * args.batch_size * world
        print(
            f"done: {step} steps in {seconds:.1f} s ({images / seconds:.0f} images/s in all); "
            f"held-out loss {before:.3f} -> {after:.3f}",
            flush=True,
        )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.full_tensor() if hasattr(v, "full_tensor") else v  # FSDP: a collective
            for k, v in net.state_dict().items()
        }
        torch.save({k: v.detach().cpu() for k, v in state.items()}, out / f"rank{rank}.pt")
        if rank == 0:
            (out / "metrics.json").write_text(
                json.dumps(
                    {
                        "world_size": world,
                        "steps": step,
                        "held_out_loss_before": before,
                        "held_out_loss_after": after,
                        "step_losses": losses,
                        "find_unused_parameters": find_unused,
                        "fsdp": args.fsdp,
                        "seconds": seconds,
                    },
                    indent=1,
                )
            )
    dist.barrier()
    dist.destroy_process_group()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="googlenet.incept", metavar="FILE")
    p.add_argument("--model", default=None, metavar="NAME")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--input", default="3x64x64", metavar="CxHxW")
    p.add_argument(
        "--init",
        default=None,
        choices=("fan_in", "kaiming", "trunc_normal", "torch"),
        help="weight initialisation (default: the compiler's, fan_in)",
    )
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16, help="per process")
    p.add_argument("--train-size", type=int, default=2048)
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"))
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the DDP module")
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="batch-norm statistics over all GPUs (SyncBatchNorm; CUDA only)",
    )
    p.add_argument(
        "--fsdp",
        action="store_true",
        help="shard parameters, gradients and optimiser state (FSDP2) instead of DDP",
    )
    p.add_argument("--find-unused", action="store_true", help="force find_unused_parameters=True")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=5)
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write each rank's state_dict and rank 0's metrics here",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        run(args)
    except incept_dsl.InceptError as err:
        print(err, file=sys.stderr)
        raise SystemExit(1) from None
    except incept_dsl.UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
