"""`tune_cpu_allocator`: freed memory stays mapped (no page faults on the next call), huge pages
only while torch is not yet imported, and a reason for whatever it cannot set.

The settings are process-wide, so every test that applies them runs in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from incept_dsl.backends import cpu_allocator
from incept_dsl.backends.cpu_allocator import AllocatorTuning, thp_mode

GLIBC = cpu_allocator._glibc() is not None

#: faults per call of a 3 MiB and a 40 MiB tensor (above glibc's largest mmap threshold) filled
#: and freed, before and after tuning (child process)
FAULTS_SCRIPT = """
import json, resource
import torch
import incept_dsl

def faults(calls=20, floats=3 * 262144):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        t = torch.empty(floats)
        t.fill_(1.0)
        del t
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / calls

def both():
    return {"small": faults(), "large": faults(calls=5, floats=40 * 262144)}

both()
before = both()
tuning = incept_dsl.tune_cpu_allocator()
both()
print(json.dumps({"before": before, "after": both(), "heap_kept": tuning.heap_kept}))
"""

#: tuning before torch is imported turns PyTorch's huge pages on (child process)
THP_SCRIPT = """
import json, os, sys
import incept_dsl
tuning = incept_dsl.tune_cpu_allocator()
imported = "torch" in sys.modules
import torch
torch.ones(1 << 20).sum()
print(json.dumps({
    "huge_pages": tuning.huge_pages,
    "variable": os.environ.get("THP_MEM_ALLOC_ENABLE"),
    "torch_imported_by_tuning": imported,
    "notes": tuning.notes,
}))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in a child process without the huge-page variable (it imports this tree:
    conftest puts it on PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300
    )


def _child(script: str) -> dict:
    r = _run("-c", script)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture
def fresh() -> Iterator[None]:
    """`tune_cpu_allocator` caches its report; each test here starts and ends uncached."""
    cpu_allocator.tune_cpu_allocator.cache_clear()
    yield
    cpu_allocator.tune_cpu_allocator.cache_clear()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's: this C library is not glibc")
def test_freed_memory_stays_mapped_after_tuning():
    got = _child(FAULTS_SCRIPT)
    assert got["heap_kept"]
    for key, mib in (("small", 3), ("large", 40)):
        pages = mib * 1024 * 1024 / 4096  # the pages each call touches
        assert got["after"][key] < 0.05 * pages, got  # no fresh pages for the second call on


def test_tuning_before_torch_turns_huge_pages_on():
    got = _child(THP_SCRIPT)
    assert not got["torch_imported_by_tuning"]  # tuning itself must not import torch
    if thp_mode() in ("always", "madvise"):
        assert got["huge_pages"] and got["variable"] == "1", got
    else:
        assert not got["huge_pages"] and got["variable"] is None, got
        assert any("transparent huge pages are off" in n for n in got["notes"])


def test_huge_pages_refused_once_torch_is_imported(monkeypatch, fresh):
    import torch  # noqa: F401 - the point: torch is in sys.modules

    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    monkeypatch.setattr(cpu_allocator, "thp_mode", lambda: "madvise")
    monkeypatch.setattr(cpu_allocator, "_glibc", lambda: None)  # nothing applied here
    tuning = cpu_allocator.tune_cpu_allocator()
    assert tuning == cpu_allocator.tune_cpu_allocator()  # once per process
    assert not tuning.huge_pages and not tuning.heap_kept
    assert "THP_MEM_ALLOC_ENABLE" not in os.environ
    assert any("torch was imported first" in n for n in tuning.notes)
    assert any("not glibc" in n for n in tuning.notes)


def test_huge_pages_follow_the_kernels_mode(monkeypatch):
    monkeypatch.setattr(cpu_allocator, "thp_mode", lambda: "never")
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    on, note = cpu_allocator._huge_pages()
    assert not on and "'never'" in note
    monkeypatch.setattr(cpu_allocator, "thp_mode", lambda: "always")
    assert cpu_allocator._huge_pages() == (True, "")  # set in the environment by the user


@pytest.mark.parametrize(
    ("text", "mode"),
    [("always [madvise] never\n", "madvise"), ("[always] madvise never", "always"), ("", "")],
)
def test_thp_mode_reads_the_bracketed_choice(tmp_path, text, mode):
    f = tmp_path / "enabled"
    f.write_text(text)
    assert thp_mode(f) == mode
    assert thp_mode(tmp_path / "missing") == ""


def test_describe_says_what_is_on_and_why_the_rest_is_not():
    assert AllocatorTuning(False, False).describe() == "CPU allocator: unchanged"
    text = AllocatorTuning(True, False, ("no huge pages: because",)).describe()
    assert text == (
        "CPU allocator: freed memory kept mapped (glibc mallopt); no huge pages: because"
    )
    assert "THP_MEM_ALLOC_ENABLE=1" in AllocatorTuning(True, True).describe()


def test_bench_tune_allocator_says_what_it_set(tmp_path):
    p = tmp_path / "tiny.incept"
    p.write_text(
        "model tiny {\n    input image: 3x8x8\n"
        "    output y = image -> conv(4, 3) -> avgpool(global) -> flatten -> linear(2)\n}\n"
    )
    cmd = ["-m", "incept_dsl", "bench", str(p), "--tune-allocator"]
    r = _run(*cmd, "--levels", "0", "--rounds", "1", "--warmup", "0")
    assert r.returncode == 0, r.stderr
    note = next(line for line in r.stderr.splitlines() if "CPU allocator:" in line)
    if GLIBC:
        assert "freed memory kept mapped" in note
    assert ("huge pages for tensors" in note) == (thp_mode() in ("always", "madvise"))
    assert "incept-dsl -O0" in r.stdout


def test_fault_note_only_from_the_threshold_on():
    limit = cpu_allocator.FAULTS_WORTH_TUNING
    assert cpu_allocator.fault_note(limit * 4 - 1, 4) is None
    assert cpu_allocator.fault_note(5, 0) is None  # no calls
    note = cpu_allocator.fault_note(35_000 * 6, 6)
    assert note is not None
    assert "35,000 page faults" in note and "--tune-allocator" in note


def test_minor_faults_count_fresh_pages():
    import torch

    before = cpu_allocator.minor_faults()
    if before is None:
        pytest.skip("this platform has no getrusage")
    t = torch.empty(64 * 262144)  # 64 MiB: above glibc's largest mmap threshold, fresh pages
    t.fill_(1.0)
    assert cpu_allocator.minor_faults() - before >= 1000
