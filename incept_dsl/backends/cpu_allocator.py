"""Keep PyTorch's CPU memory mapped between calls, so that a forward pass stops paying page faults.

PyTorch allocates each CPU tensor with the C library's `malloc` and frees it when the last
reference goes. glibc's `malloc` takes large blocks (128 KiB and more, a threshold it raises as
it goes, up to 32 MiB) straight from `mmap` and unmaps them when freed, and gives freed memory at
the top of its heap back to the kernel; the next call's tensors are then fresh pages, and the
kernel takes a page fault for each 4 KiB and zeroes it. A network's activations at batch 16 are
tens of megabytes each: measured on a 2-vCPU AMD EPYC (Zen 4), GoogLeNet's `-O2` module took
35,000 to 41,000 minor page faults per call at batch 16, and filling a fresh 100 MB tensor took
33 ms against 4.5 ms for one in memory already mapped. onnxruntime and OpenVINO keep their own
memory arena, so their runs never pay this.

`tune_cpu_allocator()` applies two documented settings, each only where it works:

- glibc's `mallopt(M_MMAP_MAX, 0)` and `mallopt(M_TRIM_THRESHOLD, 1 GiB)`: every block comes
  from the heap, and freed memory stays mapped for the next call (up to 1 GiB free at the top of
  the heap). It takes effect at once, whenever it is called. The price is that the process keeps
  its peak memory mapped, as an arena does. glibc still falls back to `mmap` where the heap
  cannot grow.
- PyTorch's `THP_MEM_ALLOC_ENABLE=1`: tensors of 2 MiB and more are placed in transparent huge
  pages. PyTorch reads the variable once, at its first allocation, so it is set here only while
  torch is not yet imported; it needs the kernel's transparent huge pages in "always" or
  "madvise" mode.

It changes the whole process, and is meant for a process that serves or benchmarks a network; it
never raises, and it reports what it did and why not.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

#: glibc's `mallopt` parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: freed memory at the top of the heap returned to the kernel only beyond this
TRIM_THRESHOLD = 1 << 30
THP_VARIABLE = "THP_MEM_ALLOC_ENABLE"
THP_MODE_FILE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@dataclass(frozen=True)
class AllocatorTuning:
    """What `tune_cpu_allocator` could set in this process.

    `heap_kept`: glibc keeps freed memory mapped. `huge_pages`: PyTorch places
    tensors of 2 MiB and more in transparent huge pages. `notes` say why either is off.
    """

    heap_kept: bool
    huge_pages: bool
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a benchmark's header: what is on, then why the rest is not."""
        on = [
            name
            for name, flag in (
                ("freed memory kept mapped (glibc mallopt)", self.heap_kept),
                (f"huge pages for tensors of 2 MiB and more ({THP_VARIABLE}=1)", self.huge_pages),
            )
            if flag
        ]
        text = "CPU allocator: " + ("; ".join(on) if on else "unchanged")
        return text + "".join(f"; {note}" for note in self.notes)


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (it has `mallopt`), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError outside glibc
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def thp_mode(path: Path = THP_MODE_FILE) -> str:
    """The kernel's transparent-huge-page mode ("always", "madvise", "never"), or "" unknown."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else ""


def _keep_heap() -> tuple[bool, str]:
    libc = _glibc()
    if libc is None:
        return False, "freed memory not kept: the C library is not glibc (no mallopt)"
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False, "freed memory not kept: glibc refused mallopt"
    return True, ""


def _huge_pages() -> tuple[bool, str]:
    mode = thp_mode()
    if mode not in ("always", "madvise"):
        why = f"mode {mode!r}" if mode else "no transparent huge pages here"
        return False, f"no huge pages: the kernel's transparent huge pages are off ({why})"
    if os.environ.get(THP_VARIABLE) == "1":
        return True, ""
    if "torch" in sys.modules:
        return False, (
            f"no huge pages: torch was imported first; set {THP_VARIABLE}=1 in the environment, "
            "or call tune_cpu_allocator() before importing torch"
        )
    os.environ[THP_VARIABLE] = "1"
    return True, ""


#: page faults per call from which `incept-dsl bench` suggests `--tune-allocator` (4 MiB of
#: fresh pages a call; GoogLeNet's -O2 module at batch 16 took 35,000 to 41,000 on the Zen 4)
FAULTS_WORTH_TUNING = 1024


def minor_faults() -> int | None:
    """This process's minor page faults so far, or None where the platform cannot say."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def fault_note(faults: int, calls: int) -> str | None:
    """A note suggesting `--tune-allocator` when `calls` calls took `FAULTS_WORTH_TUNING` or more
    minor page faults each; None when they took fewer (or there were no calls)."""
    per_call = faults / calls if calls > 0 else 0.0
    if per_call < FAULTS_WORTH_TUNING:
        return None
    return (
        f"note: each call took {per_call:,.0f} page faults on average: the memory PyTorch frees "
        "is mapped afresh on the next call; --tune-allocator keeps it mapped "
        "(incept_dsl.tune_cpu_allocator)"
    )


@functools.cache
def tune_cpu_allocator() -> AllocatorTuning:
    """Keep freed CPU memory mapped (glibc) and, while torch is not yet imported, turn on
    PyTorch's huge-page allocation; see the module's docstring. Applies once per process (later
    calls return the first report); never raises."""
    heap_kept, heap_note = _keep_heap()
    huge, huge_note = _huge_pages()
    return AllocatorTuning(heap_kept, huge, tuple(n for n in (heap_note, huge_note) if n))
