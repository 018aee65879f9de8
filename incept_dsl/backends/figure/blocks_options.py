"""The options of the PlotNeuralNet-style view (`BlocksOptions`), checked when they are made."""

from __future__ import annotations

import math
from dataclasses import dataclass

from incept_dsl.backends.figure.options import MAX_FONT_LENGTH
from incept_dsl.backends.figure.style import THEMES
from incept_dsl.errors import UsageError

#: The narrowest and widest drawing `width_in` asks for, in inches.
MIN_WIDTH_IN = 1.0
MAX_WIDTH_IN = 200.0
#: The longest title drawn (a longer one is a `UsageError`: a figure title is a line, not a text).
MAX_TITLE_LENGTH = 500


@dataclass(frozen=True)
class BlocksOptions:
    """What the blocks view draws and how.

    `title`: a line above the drawing (None or "": none). `width_in`: the drawing's width in
    inches (None: the natural size, about 1 pt per unit of the scales in `blocks_model`); the
    boxes are scaled so that the whole drawing, captions included, is that wide. `shapes`: write
    the tensor's shape (C, H×W) under each box's name. `font`: the font family (SVG
    `font-family`; in TikZ mapped to the serif, sans-serif or typewriter family of the
    document). `theme`: "default" (Okabe–Ito colours per op family) or "grayscale". `aux`: draw
    the aux heads. `standalone`: TikZ only, a complete LaTeX document (True) or a bare
    `tikzpicture` to `\\input` (False).
    """

    title: str | None = None
    width_in: float | None = None
    shapes: bool = True
    font: str = "Helvetica"
    theme: str = "default"
    aux: bool = True
    standalone: bool = True

    def __post_init__(self) -> None:
        if self.theme not in THEMES:
            raise UsageError(f"theme must be one of {', '.join(THEMES)}; got {self.theme!r}")
        if not isinstance(self.font, str) or not self.font.strip():
            raise UsageError(f"not a font name: {self.font!r}")
        if any(c in self.font for c in '"\\\n\r') or len(self.font) > MAX_FONT_LENGTH:
            raise UsageError(f"not a font name: {self.font[:40]!r}")
        if self.width_in is not None:
            w = self.width_in
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
                raise UsageError(f"the width must be a number of inches; got {w!r}")
            if not MIN_WIDTH_IN <= w <= MAX_WIDTH_IN:
                raise UsageError(
                    f"the width must be between {MIN_WIDTH_IN:g} and {MAX_WIDTH_IN:g} inches; "
                    f"got {w:g}"
                )
        if self.title is not None and not isinstance(self.title, str):
            raise UsageError(f"the title must be text; got {self.title!r}")
        if self.title is not None and len(self.title) > MAX_TITLE_LENGTH:
            raise UsageError(
                f"the title is {len(self.title)} characters long (at most {MAX_TITLE_LENGTH})"
            )
