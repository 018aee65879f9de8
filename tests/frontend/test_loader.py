"""Imports (`incept_dsl.frontend.loader`): only regular `.incept` files, no control characters, and an
error never shows the content of a file that is not an `.incept` file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.errors import InceptError, InceptImportError

MODEL = "model m { input x: 3x8x8\n output y = x -> relu }\n"
SECRET = "TOP_SECRET_VALUE_4711"


def _check(main_text: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (folder / "main.incept").write_text(main_text, encoding="utf-8")
    rc = main(["check", str(folder / "main.incept")])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "path",
    [
        "../../../../../../../../etc/passwd",
        "/proc/self/environ",
        "notes.txt",
        "blocks",
        "blocks.incept.bak",
        "x.INCEPT",
        "dir.incept/..",
    ],
)
def test_an_import_must_name_an_incept_file(
    path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, err = _check(f'import "{path}"\n' + MODEL, tmp_path, capsys)
    assert rc == 1
    assert err.startswith(f"{tmp_path / 'main.incept'}:1:1: error: ")
    assert "root:" not in err and "PATH=" not in err


def test_no_content_of_another_file_is_ever_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET} is not a program\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.incept").symlink_to(secret)  # a .incept name for another file
    for text in ('import "../secret.txt"\n', 'import "link.incept"\n'):
        (tmp_path / "sub" / "main.incept").write_text(text + MODEL)
        assert main(["check", str(tmp_path / "sub" / "main.incept")]) == 1
        err = capsys.readouterr().err
        assert SECRET not in err and "main.incept:1:1: error:" in err


def test_environ_is_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/proc/self/environ").exists():
        pytest.skip("no /proc here")
    monkeypatch.setenv("INCEPT_TEST_SECRET", SECRET)
    (tmp_path / "env.incept").symlink_to("/proc/self/environ")
    rc, err = _check('import "env.incept"\n' + MODEL, tmp_path, capsys)
    assert rc == 1 and SECRET not in err


def test_imports_may_climb_to_other_incept_files(tmp_path: Path) -> None:
    (tmp_path / "blocks").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "blocks" / "b.incept").write_text("block twice = relu -> relu\n")
    main_file = tmp_path / "models" / "m.incept"
    main_file.write_text(
        'import "../blocks/b.incept"\nmodel m { input x: 3x8x8\n output y = x -> twice }\n'
    )
    m = incept_dsl.load(main_file)
    assert m.outputs == {"y": (3, 8, 8)}
    assert set(m.source_files) == {main_file.resolve(), (tmp_path / "blocks/b.incept").resolve()}


@pytest.mark.parametrize(
    "char", ["\t", "\x1b", "\x00", "\x7f", "\x85", "\u2028", "\u202e", "\u200b", "\ufeff"]
)
def test_control_characters_in_an_import_are_an_error_at_the_character(char: str) -> None:
    text = f'import "ab{char}c.incept"\n' + MODEL
    with pytest.raises(InceptImportError, match=f"U\\+{ord(char):04X}") as e:
        incept_dsl.loads(text, name="main.incept")
    assert (e.value.line, e.value.column) == (1, 11)
    if char != "\t":  # a tab is harmless: excerpts keep it (their carets line up under it)
        assert char not in e.value.render().split("\n", 1)[1]  # the excerpt shows U+FFFD


def test_a_carriage_return_in_an_import_ends_the_string(tmp_path: Path) -> None:
    # a lone \r ends the line, so the string is not closed on its line: a syntax error there
    with pytest.raises(InceptError) as e:
        incept_dsl.loads('import "a\rb.incept"\n' + MODEL, name="main.incept")
    assert (e.value.line, e.value.column) == (1, 8)
    assert "must end on their line" in (e.value.hint or "")


def test_fmt_refuses_a_control_character_in_an_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "m.incept"
    p.write_text('import "a\x1bb.incept"\n' + MODEL)
    assert main(["fmt", "--check", str(p)]) == 1
    err = capsys.readouterr().err
    assert "U+001B" in err and "\x1b" not in err


def test_an_import_through_a_link_to_an_incept_file_works(tmp_path: Path) -> None:
    (tmp_path / "real.incept").write_text("block twice = relu -> relu\n")
    (tmp_path / "alias.incept").symlink_to("real.incept")
    (tmp_path / "main.incept").write_text(
        'import "alias.incept"\nmodel m { input x: 3x8x8\n output y = x -> twice }\n'
    )
    assert incept_dsl.load(tmp_path / "main.incept").outputs == {"y": (3, 8, 8)}


def test_source_files_name_every_input(tmp_path: Path) -> None:
    (tmp_path / "a.incept").write_text('import "b.incept"\nblock a1 = relu\n')
    (tmp_path / "b.incept").write_text("block b1 = relu\n")
    (tmp_path / "main.incept").write_text(
        'import "a.incept"\nmodel m { input x: 3x8x8\n output y = x -> a1 }\n'
    )
    m = incept_dsl.load(tmp_path / "main.incept")
    assert sorted(p.name for p in m.source_files) == ["a.incept", "b.incept", "main.incept"]
    assert all(os.path.isabs(p) for p in m.source_files)


def test_the_file_limit_applies_to_a_chain_of_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files still loading their own imports count: a long chain stops at the import that
    crosses `MAX_IMPORTED_FILES`, located there, instead of recursing through every file."""
    from incept_dsl.frontend.loader import MAX_IMPORTED_FILES

    n = MAX_IMPORTED_FILES + 200
    for i in range(n):
        text = f'import "c{i + 1}.incept"\n' if i + 1 < n else ""
        text += f"block b{i} = conv(4, 1)\n"
        if i == 0:
            text += "model m { input x: 3x8x8\n output y = x -> b0 }\n"
        (tmp_path / f"c{i}.incept").write_text(text, encoding="utf-8")
    rc = main(["check", str(tmp_path / "c0.incept")])
    err = capsys.readouterr().err
    assert rc == 1
    last = MAX_IMPORTED_FILES - 1  # c0 .. c{last} are the files allowed
    assert err.startswith(f"{tmp_path / f'c{last}.incept'}:1:1: error: ")
    assert f"more than {MAX_IMPORTED_FILES} files imported" in err
