"""The preview app's routes through Starlette's TestClient: the page, the state, the downloads,
the refusals (unknown names, paths, foreign hosts) and the security headers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from preview.preview_programs import program_text
from starlette.testclient import TestClient

from incept_dsl.preview.app import CSP, create_app
from incept_dsl.preview.workspace import Workspace


@pytest.fixture
def ws(program: Path) -> Workspace:
    return Workspace(program.resolve(), "tiny")


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    return TestClient(create_app(ws, watch=False), base_url="http://127.0.0.1")


def test_page_and_its_files_carry_the_security_headers(client: TestClient) -> None:
    for path, kind in (("/", "text/html"), ("/static/preview.js", "text/javascript")):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(kind)
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CSP and "unsafe-eval" not in CSP
    page = client.get("/").text
    assert '<script src="/static/preview.js"' in page and "<script>" not in page
    script = client.get("/static/preview.js").text
    assert "textContent" in script  # text goes in as text; markup only as parsed, cleaned SVG
    assert not any(sink in script for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML"))
    assert "eval(" not in script and "document.write" not in script


def test_state_has_figure_table_and_choices(client: TestClient) -> None:
    s = client.get("/state").json()
    assert s["model"] == "tiny" and s["models"] == ["tiny", "other"]
    assert s["errors"] == []
    assert s["svg"].lstrip().startswith("<?xml") and "<svg" in s["svg"]
    assert "stem" in s["table"] and "16×16×16" in s["table"]
    assert s["blocks"] == ["mixed", "mix"]


def test_state_follows_the_selection(client: TestClient) -> None:
    one = client.get("/state", params={"model": "tiny", "block": "mixed"}).json()
    assert one["block"] == "mixed" and "Previous layer" in one["svg"]
    assert "Previous layer" not in client.get("/state").json()["svg"]
    other = client.get("/state", params={"model": "other", "by": "block"}).json()
    assert other["model"] == "other" and "only" in other["table"]
    blocks = client.get("/state", params={"style": "blocks"}).json()
    assert blocks["svg"] != one["svg"] and "<svg" in blocks["svg"]


@pytest.mark.parametrize(
    "query",
    [
        {"model": "nope"},
        {"model": "../tiny.incept"},
        {"block": "/etc/passwd"},
        {"style": "dot"},
        {"by": "row"},
        {"model": "x" * 5000},
    ],
)
def test_unknown_names_are_refused(client: TestClient, query: dict[str, str]) -> None:
    r = client.get("/state", params=query)
    assert r.status_code == 400
    assert "unknown" in r.json()["error"]


@pytest.mark.parametrize("fmt", ["../../etc/passwd", "/etc/passwd", "dot", "SVG", "tiny.incept"])
def test_download_refuses_paths_and_unknown_formats(client: TestClient, fmt: str) -> None:
    r = client.get("/download", params={"fmt": fmt})
    assert r.status_code == 400
    assert "root:" not in r.text and "choose one of" in r.text


def test_unknown_routes_and_foreign_hosts(client: TestClient, ws: Workspace) -> None:
    assert client.get("/static/../../tiny.incept").status_code == 404
    assert client.get("/tiny.incept").status_code == 404
    foreign = TestClient(create_app(ws, watch=False), base_url="http://evil.example")
    assert foreign.get("/state").status_code == 400


@pytest.mark.parametrize(
    ("fmt", "media", "head"),
    [
        ("svg", "image/svg+xml", b"<?xml"),
        ("pdf", "application/pdf", b"%PDF"),
        ("png", "image/png", b"\x89PNG"),
        ("tikz", "text/x-tex", b"%"),
        ("text", "text/plain", b"tiny: cost per block"),
        ("markdown", "text/markdown", b""),
        ("csv", "text/csv", b""),
        ("latex", "text/x-tex", b""),
        ("json", "application/json", b"{"),
    ],
)
def test_downloads(client: TestClient, fmt: str, media: str, head: bytes) -> None:
    r = client.get("/download", params={"fmt": fmt, "by": "block"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(media)
    assert r.content.startswith(head) and len(r.content) > 100
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="tiny-')
    if fmt == "json":
        assert json.loads(r.content)["model"] == "tiny"


def test_downloads_are_deterministic(client: TestClient) -> None:
    first = client.get("/download", params={"fmt": "svg", "style": "expand"}).content
    assert client.get("/download", params={"fmt": "svg", "style": "expand"}).content == first


def test_errors_replace_the_figure_until_fixed(
    client: TestClient, ws: Workspace, program: Path
) -> None:
    good = client.get("/state").json()
    program.write_text(program_text().replace("-> mixed(8, 16)", "-> mixed(8, <b>)"), "utf-8")
    ws.bump()
    bad = client.get("/state").json()
    assert bad["svg"] is None and bad["table"] is None
    assert bad["models"] == ["tiny", "other"]  # the selectors keep the last good names
    (error,) = bad["errors"]
    assert "tiny.incept:" in error and "mixed(8, <b>)" in error and "^" in error
    assert client.get("/download", params={"fmt": "svg"}).status_code == 409
    program.write_text(program_text(stem=24), "utf-8")
    ws.bump()
    fixed = client.get("/state").json()
    assert fixed["errors"] == [] and fixed["version"] == bad["version"] + 1
    assert fixed["svg"] != good["svg"] and "24×16×16" in fixed["table"]


def test_an_unexpected_failure_is_shown_not_served_as_a_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incept_dsl.preview import state

    def broken(*_args: object) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(state, "figure_bytes", broken)
    r = client.get("/state", params={"style": "expand"})
    assert r.status_code == 200
    assert r.json()["errors"] == ["internal compiler error: RuntimeError: boom (please report it)"]
    assert r.json()["svg"] is None and "stem" in r.json()["table"]
