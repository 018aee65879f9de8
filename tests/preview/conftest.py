"""Fixtures of the preview tests: a small program with an import in a temp folder, and a real
uvicorn server serving it on 127.0.0.1 (for the event stream and the browser)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from preview.preview_programs import BLOCKS, program_text

pytest.importorskip("starlette", reason="the preview extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the preview extra (uvicorn) is not installed")
pytest.importorskip("watchfiles", reason="the preview extra (watchfiles) is not installed")
pytest.importorskip("sse_starlette", reason="the preview extra (sse-starlette) is not installed")


@pytest.fixture
def program(tmp_path: Path) -> Path:
    """`tiny.incept` (two models; imports `parts.incept`) in a fresh temp folder."""
    (tmp_path / "parts.incept").write_text(BLOCKS, encoding="utf-8")
    path = tmp_path / "tiny.incept"
    path.write_text(program_text(), encoding="utf-8")
    return path


@pytest.fixture
def live_server(program: Path) -> Iterator[str]:
    """The preview of `program` served by uvicorn in a thread; its base URL."""
    import uvicorn

    from incept_dsl.preview.app import create_app
    from incept_dsl.preview.server import bind
    from incept_dsl.preview.workspace import Workspace

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(Workspace(program.resolve(), "tiny"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the preview server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
