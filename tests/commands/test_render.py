"""`incept-dsl render` and `compile --to dot|svg|pdf|png|tikz`: the page options on the command
line, the `--style` wiring, and `--block` with several forms."""

from __future__ import annotations

import shutil

import pytest

from incept_dsl.cli import main

UNET = ["unet.incept", "--model", "unet"]
PAGE = ["--expand", "--width", "7in", "--title", "U-Net", "--legend", "--costs", "--show-norm-act"]


def test_render_takes_the_page_options(tmp_path, capsys) -> None:
    out = tmp_path / "u.dot"
    assert main(["render", *UNET, *PAGE, "-o", str(out)]) == 0
    dot = out.read_text(encoding="utf-8")
    assert 'size="7,9.1"' in dot and "U-Net</FONT>" in dot
    assert "params · " in dot and "MACs" in dot  # --costs
    assert "+ BN" not in dot and "+ ReLU" in dot  # --show-norm-act (U-Net has no batch norm)
    assert "wrote" in capsys.readouterr().out


def test_compile_to_dot_gives_the_same_figure_as_render(tmp_path) -> None:
    a, b = tmp_path / "a.dot", tmp_path / "b.dot"
    assert main(["render", *UNET, *PAGE, "-o", str(a)]) == 0
    assert main(["compile", *UNET, "--to", "dot", *PAGE, "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_compile_to_tikz_writes_the_blocks_style(tmp_path) -> None:
    out = tmp_path / "u.tex"
    assert main(["compile", *UNET, "--to", "tikz", "-o", str(out)]) == 0
    assert "tikzpicture" in out.read_text(encoding="utf-8")


def test_render_blocks_to_png_needs_a_converter(tmp_path, capsys) -> None:
    out = tmp_path / "u.png"
    rc = main(["render", *UNET, "--style", "blocks", "-o", str(out)])
    if shutil.which("rsvg-convert") is None:
        assert rc == 2 and "rsvg-convert" in capsys.readouterr().err
    else:
        assert rc == 0 and out.read_bytes().startswith(b"\x89PNG")


def test_render_blocks_refuses_dot(tmp_path, capsys) -> None:
    assert main(["render", *UNET, "--style", "blocks", "-o", str(tmp_path / "u.dot")]) == 2
    assert "blocks style writes .svg, .tex, .png or .pdf" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--width", "wide"], ["--title", ""], ["--style", "3d"]])
def test_bad_page_options_are_usage_errors(tmp_path, capsys, bad) -> None:
    out = tmp_path / "u.svg"
    with pytest.raises(SystemExit) if bad[0] == "--style" else _nothing():
        assert main(["render", *UNET, *bad, "-o", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err and not out.exists()


def test_a_block_of_several_forms_names_the_scopes_to_pick(capsys) -> None:
    rc = main(["render", "densenet.incept", "--model", "densenet121", "--block", "dense_block"])
    err = capsys.readouterr().err
    assert rc == 2 and "4 different forms" in err and "--block denseblock3:" in err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_a_block_of_one_form_says_which_instance_is_drawn(tmp_path, capsys) -> None:
    out = tmp_path / "d.dot"
    assert main(["render", *UNET, "--block", "down", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "block down: down_1, the first of its 4 instances" in said
    assert main(["render", *UNET, "--block", "down_3", "-o", str(out)]) == 0
    assert "block down_3," in capsys.readouterr().out and '"down_3.' in out.read_text()
