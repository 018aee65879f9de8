"""The event stream of a real preview server: one `change` event per save of the program or of
a file it imports, none for other files in the folder; and the files `Workspace` watches."""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from preview.preview_programs import BLOCKS, program_text

from incept_dsl.preview.workspace import read_program

#: Seconds a change event may take after a save (the page promises a redraw within a second; the
#: slack is for a loaded test machine).
EVENT_WITHIN_S = 3.0


class EventStream:
    """The `change` versions read from `/events`, one at a time."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=EVENT_WITHIN_S)
        self.conn.request("GET", "/events", headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.headers["content-type"].startswith("text/event-stream")

    def next_version(self) -> int:
        """The version of the next `change` event (a socket timeout fails the test)."""
        event = None
        while True:
            line = self.response.readline().decode("utf-8").strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "change":
                return int(line.split(":", 1)[1])

    def close(self) -> None:
        self.conn.close()


def test_a_change_event_follows_each_save(program: Path, live_server: str) -> None:
    stream = EventStream(live_server)
    try:
        assert stream.next_version() == 0  # the current version, at once
        time.sleep(0.3)  # the watcher is running before the first save
        start = time.monotonic()
        program.write_text(program_text(stem=32), encoding="utf-8")
        assert stream.next_version() == 1
        assert time.monotonic() - start < EVENT_WITHIN_S
        (program.parent / "unrelated.incept").write_text("# not imported\n", encoding="utf-8")
        time.sleep(0.5)
        (program.parent / "parts.incept").write_text(BLOCKS.replace("3)", "5)"), "utf-8")
        assert stream.next_version() == 2  # the import's save; the unrelated file made none
    finally:
        stream.close()


def test_an_added_import_is_watched_too(program: Path, live_server: str) -> None:
    extra = program.parent / "extra.incept"
    extra.write_text("block unused(c) = conv(c, 1)\n", encoding="utf-8")
    stream = EventStream(live_server)
    try:
        assert stream.next_version() == 0
        time.sleep(0.3)
        program.write_text('import "extra.incept"\n' + program_text(), encoding="utf-8")
        assert stream.next_version() == 1
        time.sleep(0.5)  # the watcher now follows extra.incept
        extra.write_text("block unused(c) = conv(c, 3)\n", encoding="utf-8")
        assert stream.next_version() == 2
    finally:
        stream.close()


def test_read_program_lists_the_imports_and_the_files_read_before_an_error(
    program: Path,
) -> None:
    snap = read_program(program, 3)
    assert snap.version == 3 and snap.error is None
    assert snap.models == ["tiny", "other"]
    assert snap.files == [program.resolve(), (program.parent / "parts.incept").resolve()]
    (program.parent / "parts.incept").write_text("block broken(a) = conv(a,\n", "utf-8")
    broken = read_program(program, 4)
    assert broken.models == [] and broken.error is not None
    assert "parts.incept:" in broken.error
    assert (program.parent / "parts.incept").resolve() in broken.files


def test_a_broken_import_stays_watched_until_fixed(program: Path, live_server: str) -> None:
    parts = program.parent / "parts.incept"
    stream = EventStream(live_server)
    try:
        assert stream.next_version() == 0
        time.sleep(0.3)
        parts.write_text("block mixed(a, b) = concat {\n", encoding="utf-8")
        assert stream.next_version() == 1
        time.sleep(0.5)  # the watcher has re-read the program (which no longer parses)
        parts.write_text(BLOCKS, encoding="utf-8")
        assert stream.next_version() == 2
    finally:
        stream.close()


@pytest.fixture
def failing_events(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """`watchfiles.awatch` failing unless it polls (as with no inotify watches left)."""
    import watchfiles

    real, calls = watchfiles.awatch, []

    def awatch(*paths: object, **options: object):  # type: ignore[no-untyped-def]
        calls.append(options.get("force_polling"))
        if not options.get("force_polling"):
            raise OSError(28, "inotify watch limit reached")
        return real(*paths, **options)

    monkeypatch.setattr(watchfiles, "awatch", awatch)
    return calls


def test_failing_file_events_fall_back_to_polling(
    capfd: pytest.CaptureFixture[str],  # first: the watcher's message comes as the server starts
    failing_events: list[object],
    program: Path,
    live_server: str,
) -> None:
    stream = EventStream(live_server)
    try:
        assert stream.next_version() == 0
        time.sleep(1.0)  # the polling watcher has taken its first look
        program.write_text(program_text(stem=8), encoding="utf-8")
        assert stream.next_version() == 1
    finally:
        stream.close()
    assert failing_events[:2] == [None, True]
    assert "polling the files instead" in capfd.readouterr().err
