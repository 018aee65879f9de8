"""The figure's options (`FigureOptions`): what to draw and how, checked when they are made."""

from __future__ import annotations

import re
from dataclasses import dataclass

from incept_dsl.backends.figure.style import THEMES
from incept_dsl.errors import UsageError

RANKDIRS = ("TB", "BT", "LR", "RL")
#: The longest `font` name a figure takes (Graphviz refuses over-long tokens with a syntax error).
MAX_FONT_LENGTH = 200
#: The longest figure title (a title is one line over the figure).
MAX_TITLE_LENGTH = 200
#: Drawing styles: a Graphviz graph, or PlotNeuralNet-style blocks (`blocks.py`).
STYLES = ("graph", "blocks")
#: The page widths a figure may be laid out for, in inches.
MIN_WIDTH_IN, MAX_WIDTH_IN = 1.0, 50.0
#: Units a `--width` may be given in, and inches per unit.
WIDTH_UNITS = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4, "pt": 1 / 72.0}
_WIDTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(in|cm|mm|pt)\s*$")


def parse_width(text: str) -> float:
    """Inches of a page width such as `3.5in`, `8.4cm`, `85mm` or `252pt` (between 1 and 50
    inches); `UsageError` otherwise."""
    m = _WIDTH.match(text)
    if m is None:
        raise UsageError(
            f"not a width: {text[:40]!r}; give a number and a unit (in, cm, mm, pt), e.g. "
            "3.5in for one column of a two-column paper, 7in for the full width"
        )
    inches = float(m[1]) * WIDTH_UNITS[m[2]]
    if not MIN_WIDTH_IN <= inches <= MAX_WIDTH_IN:
        raise UsageError(f"the width {text.strip()} is {inches:.2f} in; give 1 to 50 inches")
    return inches


@dataclass(frozen=True)
class FigureOptions:
    """What to draw and how. `depth` counts nested blocks and repeats (1 = the network view);
    `expand` draws every op; `block` picks the block view. `rankdir` defaults to top-to-bottom,
    and bottom-to-top (as the papers draw modules) in the block view. `opt_level` draws the graph
    the `-O1`/`-O2` passes make (merged sibling convs, folded batch norms).

    Page options: `width` (inches, `parse_width`) lays the figure out for that width (`page`);
    `title` and `legend` go over the figure (`legend`); `costs` writes parameters and MACs
    under each box and `show_norm_act` the batch norm and activation in each conv box
    (`wording`); `style` is "graph" (Graphviz) or "blocks" (`styles`)."""

    block: str | None = None
    expand: bool = False
    collapse: bool = False
    depth: int | None = None
    shapes: bool = True
    rankdir: str | None = None
    font: str = "Helvetica"
    theme: str = "default"
    aux: bool = True
    opt_level: int = 0
    width: float | None = None  # inches (`parse_width`); None: as large as the layout makes it
    title: str | None = None
    legend: bool = False
    costs: bool = False  # parameters and MACs under each box
    show_norm_act: bool = False  # "3×3 Conv, 64 + BN + ReLU"
    style: str = "graph"

    def __post_init__(self) -> None:
        self._check_page()
        if self.opt_level not in (0, 1, 2):
            raise UsageError(f"opt_level must be 0, 1 or 2; got {self.opt_level!r}")
        if sum((self.expand, self.collapse, self.depth is not None)) > 1:
            raise UsageError("choose one of expand, collapse and depth")
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 1):
            raise UsageError(f"depth must be a whole number >= 1; got {self.depth!r}")
        if self.rankdir is not None and self.rankdir not in RANKDIRS:
            raise UsageError(f"rankdir must be one of {', '.join(RANKDIRS)}; got {self.rankdir!r}")
        if self.theme not in THEMES:
            raise UsageError(f"theme must be one of {', '.join(THEMES)}; got {self.theme!r}")
        if not self.font or any(c in self.font for c in '"\\\n'):
            raise UsageError(f"not a font name: {self.font!r}")
        if len(self.font) > MAX_FONT_LENGTH:
            raise UsageError(
                f"not a font name: {self.font[:40]!r}... is {len(self.font)} characters long "
                f"(at most {MAX_FONT_LENGTH})"
            )

    def _check_page(self) -> None:
        """The options added for page figures (width, title, style) are valid."""
        if self.width is not None and not (
            isinstance(self.width, int | float) and MIN_WIDTH_IN <= self.width <= MAX_WIDTH_IN
        ):
            raise UsageError(f"width must be 1 to 50 inches; got {self.width!r}")
        if self.style not in STYLES:
            raise UsageError(f"style must be one of {', '.join(STYLES)}; got {self.style!r}")
        if self.title is not None:
            if not self.title.strip() or any(c in self.title for c in "\r\n\0"):
                raise UsageError(f"a title is one non-empty line; got {self.title[:40]!r}")
            if len(self.title) > MAX_TITLE_LENGTH:
                raise UsageError(
                    f"the title is {len(self.title)} characters long (at most {MAX_TITLE_LENGTH})"
                )

    @property
    def view_depth(self) -> int | None:
        """Collapse blocks and repeats this deep (None: draw every op)."""
        if self.depth is not None:
            return self.depth
        if self.collapse:
            return 1
        if self.expand or self.block is not None:
            return None
        return 1
