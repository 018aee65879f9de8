"""`incept-dsl preview`: its refusals (host, port, model, file, missing extra) and a real run
that prints the URL, serves the page and stops cleanly on Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from incept_dsl.cli import main
from incept_dsl.preview.server import bind


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "example.com", "192.168.1.2", ""])
def test_only_the_loopback_host_is_served(
    program: Path, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", str(program), "--host", host]) == 2
    err = capsys.readouterr().err
    assert "--host takes 127.0.0.1 or localhost" in err and "Traceback" not in err


def test_a_missing_extra_names_the_install(
    program: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["preview", str(program)]) == 2
    assert "pip install 'incept-dsl[preview]'" in capsys.readouterr().err


def test_unknown_model_missing_file_and_taken_port(
    program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", str(program), "--model", "nope"]) == 2
    assert "no model 'nope' in tiny.incept; models: tiny, other" in capsys.readouterr().err
    assert main(["preview", str(tmp_path / "missing.incept")]) == 2
    taken = bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        assert main(["preview", str(program), "--port", port]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    finally:
        taken.close()
    assert main(["preview", str(program), "--port", "70000"]) == 2


def test_a_run_prints_the_url_serves_and_stops_on_ctrl_c(program: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "incept_dsl", "preview", str(program), "--model", "other"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("preview of tiny.incept at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "state", timeout=30) as r:
            state = json.load(r)
        assert state["model"] == "other" and state["errors"] == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
