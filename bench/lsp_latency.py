"""How fast `incept-dsl lsp` answers, per bundled architecture, after the first parse.

Starts the real server (`python -m incept_dsl lsp`) over stdio with pygls's own client, opens
each `architectures/*.incept` file (its first parse is not timed), then times, over `--rounds`
rounds (medians and 90th percentiles, in ms, client-side wall time: the JSON-RPC round trip
included):

- `diag`:  a one-character change (a space typed before the first `->`, then deleted) until the
           server publishes that version's diagnostics (parse + imports + every model elaborated);
- `hover`: a hover on the first block application (else the first op) of the file;
- `compl`: a completion right after the first `->`.

The issue's target: every answer within 100 ms. Usage: `python bench/lsp_latency.py [--rounds
20]`. The machine is shared: quote medians, and rerun an outlier.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from incept_dsl.lsp.analysis import analyze

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


def _hover_offset(path: Path, text: str) -> int:
    """The offset of the first block application (else op) of the file, by the server's index."""
    idx = analyze(text, path).index
    assert idx is not None, path
    for kind in ("block_use", "op"):
        item = next((i for i in idx.items if i.kind == kind), None)
        if item is not None:
            return item.span.start + 1
    return 0


def _position(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


class Bench:
    """One server, and a future per document version awaiting its diagnostics."""

    def __init__(self) -> None:
        self.client = LanguageClient("lsp-latency", "1")
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            fut = self.waiting.pop((params.uri, params.version or 0), None)
            if fut is not None and not fut.done():
                fut.set_result(len(params.diagnostics))

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "incept_dsl", "lsp")
        caps = types.ClientCapabilities()
        await self.client.initialize_async(types.InitializeParams(capabilities=caps))
        self.client.initialized(types.InitializedParams())

    def expect(self, uri: str, version: int) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = fut
        return fut

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


async def _change(b: Bench, uri: str, version: int, rng: types.Range, text: str) -> float:
    fut = b.expect(uri, version)
    t = time.perf_counter()
    change = types.TextDocumentContentChangePartial(range=rng, text=text)
    ident = types.VersionedTextDocumentIdentifier(uri=uri, version=version)
    b.client.text_document_did_change(types.DidChangeTextDocumentParams(ident, [change]))
    await asyncio.wait_for(fut, 60)
    return (time.perf_counter() - t) * 1000


async def _timed(coro) -> float:
    t = time.perf_counter()
    await coro
    return (time.perf_counter() - t) * 1000


async def bench_file(b: Bench, path: Path, rounds: int) -> dict[str, list[float]]:
    """Times of `rounds` one-character changes, hovers and completions on one file."""
    text = path.read_text()
    uri = path.resolve().as_uri()
    fut = b.expect(uri, 1)
    item = types.TextDocumentItem(uri, "incept", 1, text)
    b.client.text_document_did_open(types.DidOpenTextDocumentParams(item))
    await asyncio.wait_for(fut, 60)  # the first parse: not timed
    arrow = text.index("->")
    at = _position(text, arrow)
    doc = types.TextDocumentIdentifier(uri)
    hover_at = _position(text, _hover_offset(path, text))
    compl_at = _position(text, arrow + 3)
    out: dict[str, list[float]] = {"diag": [], "hover": [], "compl": []}
    version = 1
    for _ in range(rounds):
        for typed in (True, False):
            version += 1
            end = types.Position(at.line, at.character + (0 if typed else 1))
            rng = types.Range(at, end)
            out["diag"].append(await _change(b, uri, version, rng, " " if typed else ""))
        out["hover"].append(
            await _timed(b.client.text_document_hover_async(types.HoverParams(doc, hover_at)))
        )
        out["compl"].append(
            await _timed(
                b.client.text_document_completion_async(types.CompletionParams(doc, compl_at))
            )
        )
    b.client.text_document_did_close(types.DidCloseTextDocumentParams(doc))
    return out


def _p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]


async def main_async(rounds: int, files: list[Path]) -> int:
    b = Bench()
    await b.start()
    worst = 0.0
    print(f"{'file':<28} {'diag med/p90':>14} {'hover med/p90':>14} {'compl med/p90':>14}  (ms)")
    try:
        for path in files:
            times = await bench_file(b, path, rounds)
            cells = []
            for key in ("diag", "hover", "compl"):
                med, p90 = statistics.median(times[key]), _p90(times[key])
                worst = max(worst, med)
                cells.append(f"{med:6.1f}/{p90:6.1f}")
            print(f"{path.name:<28} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14}")
    finally:
        await b.stop()
    verdict = "within" if worst <= TARGET_MS else "OVER"
    print(f"slowest median: {worst:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    return 0 if worst <= TARGET_MS else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("files", nargs="*", type=Path, help="default: architectures/*.incept")
    args = ap.parse_args()
    files = args.files or sorted((ROOT / "architectures").glob("*.incept"))
    return asyncio.run(main_async(args.rounds, files))


if __name__ == "__main__":
    raise SystemExit(main())
