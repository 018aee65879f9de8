"""The Python API's file writers check their path like the CLI does (`outputs.check_output`):
never over one of the program's own files, never a folder or a device, only the format's suffix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.backends.figure.dot import FigureOptions, write_figure
from incept_dsl.backends.onnx.file import write_model
from incept_dsl.errors import UsageError

PROGRAM = "model victim { input x: 3x4x4\n output y = x -> conv(4, 3) -> relu }\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.incept"
    path.write_text(PROGRAM, encoding="utf-8")
    return path


def test_to_onnx_refuses_the_models_own_source(victim: Path) -> None:
    m = incept_dsl.load(str(victim))
    with pytest.raises(UsageError, match="input file"):
        m.to_onnx(str(victim))
    assert victim.read_text(encoding="utf-8") == PROGRAM
    link = victim.parent / "link.onnx"  # the same file under another name
    os.link(victim, link)
    with pytest.raises(UsageError, match="input file"):
        m.to_onnx(link)
    assert victim.read_text(encoding="utf-8") == PROGRAM


def test_to_onnx_refuses_folders_devices_and_other_suffixes(victim: Path, tmp_path: Path) -> None:
    m = incept_dsl.load(str(victim))
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(UsageError, match="folder|directory"):
        m.to_onnx(tmp_path / "dir.onnx")
    with pytest.raises(UsageError, match="not a regular file"):
        m.to_onnx("/dev/null")
    with pytest.raises(UsageError, match=r"ending in \.onnx"):
        m.to_onnx(tmp_path / "model.txt")
    assert not (tmp_path / "model.txt").exists()
    m.to_onnx(tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_write_model_checks_its_path(victim: Path) -> None:
    m = incept_dsl.load(str(victim))
    proto = m.to_onnx()
    other = victim.with_suffix(".onnx")  # an input with an ONNX name
    other.write_text(PROGRAM, encoding="utf-8")
    with pytest.raises(UsageError, match="input file"):
        write_model(proto, {}, other, [other])
    assert other.read_text(encoding="utf-8") == PROGRAM
    with pytest.raises(UsageError, match=r"ending in \.onnx"):
        write_model(proto, {}, victim)


def test_write_figure_refuses_the_source_and_wrong_suffixes(victim: Path, tmp_path: Path) -> None:
    m = incept_dsl.load(str(victim))
    with pytest.raises(UsageError, match="input file"):
        write_figure(m.graph, victim, FigureOptions(), "dot", inputs=m.source_files)
    with pytest.raises(UsageError):
        write_figure(
            m.graph, victim, FigureOptions(), inputs=m.source_files
        )  # the suffix names no figure format
    with pytest.raises(UsageError, match=r"ending in \.svg"):
        write_figure(m.graph, tmp_path / "fig.dot", FigureOptions(), "svg", inputs=m.source_files)
    with pytest.raises(UsageError, match="not a regular file"):
        write_figure(m.graph, "/dev/null", FigureOptions(), "dot", inputs=m.source_files)
    assert victim.read_text(encoding="utf-8") == PROGRAM
    write_figure(m.graph, tmp_path / "fig.gv", FigureOptions(), inputs=m.source_files)
    assert (tmp_path / "fig.gv").read_text(encoding="utf-8").startswith("digraph")
