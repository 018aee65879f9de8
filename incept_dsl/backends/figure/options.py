"""The figure's options (`FigureOptions`): what to draw and how, checked when they are made."""

from __future__ import annotations

from dataclasses import dataclass

from incept_dsl.backends.figure.style import THEMES
from incept_dsl.errors import UsageError

RANKDIRS = ("TB", "BT", "LR", "RL")
#: The longest `font` name a figure takes (Graphviz refuses over-long tokens with a syntax error).
MAX_FONT_LENGTH = 200


@dataclass(frozen=True)
class FigureOptions:
    """What to draw and how. `depth` counts nested blocks and repeats (1 = the network view);
    `expand` draws every op; `block` picks the block view. `rankdir` defaults to top-to-bottom,
    and bottom-to-top (as the papers draw modules) in the block view. `opt_level` draws the graph
    the `-O1`/`-O2` passes make (merged sibling convs, folded batch norms)."""

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

    def __post_init__(self) -> None:
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
