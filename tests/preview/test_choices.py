"""The fixed choices of preview requests: only listed values pass, download names stay safe."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incept_dsl.preview.choices import (
    FIGURE_DOWNLOADS,
    STYLES,
    TABLE_DOWNLOADS,
    Refused,
    View,
    download_format,
    file_name,
    pick,
    view_of,
)

SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


@given(st.text(min_size=1))
def test_pick_passes_only_listed_values(value: str) -> None:
    allowed = ("tiny", "other")
    if value in allowed:
        assert pick({"model": value}, "model", allowed, "") == value
    else:
        with pytest.raises(Refused, match="unknown model"):
            pick({"model": value}, "model", allowed, "")


@given(st.text(), st.text(), st.sampled_from(STYLES), st.sampled_from(["layer", "block"]))
def test_download_names_hold_no_path_or_markup(model: str, block: str, style: str, by: str) -> None:
    view = View(model=model, block=block, style=style, by=by)
    for fmt in (*FIGURE_DOWNLOADS, *TABLE_DOWNLOADS):
        name = file_name(model or "m", view, fmt)
        assert SAFE.match(name) and "/" not in name and len(name) <= 130


def test_defaults_and_refusals() -> None:
    assert view_of({}, ["tiny"], []) == View()
    assert download_format({}) == "svg"
    with pytest.raises(Refused, match="choose one of: svg, pdf, png, tikz, text"):
        download_format({"fmt": "../../etc/passwd"})
    with pytest.raises(Refused, match="unknown block"):
        view_of({"block": "mix"}, ["tiny"], [])
    assert file_name("tiny", View(block="mix"), "png") == "tiny-block-mix.png"
    assert file_name("tiny", View(), "tikz") == "tiny-blocks-tikz.tex"
    assert file_name("tiny", View(by="block"), "latex") == "tiny-costs-by-block.tex"
