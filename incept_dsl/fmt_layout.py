"""The formatter's layout: renders a parsed program into indented output lines (`Line`), each
recording which source lines its code came from, so that `incept_dsl.fmt` can put the comments
back. Decides where pipelines break, which bodies stay on one line, and how expressions are
spaced and parenthesised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from incept_dsl.frontend import ast
from incept_dsl.source import SourceFile, Span

#: Preferred longest line; pipelines are broken before `->` to stay within it.
LINE_WIDTH = 100
INDENT = 4

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}


@dataclass
class Line:
    """One output line: its indent and text, and the source lines whose code it holds."""

    indent: int
    text: str = ""
    lines: set[int] = field(default_factory=set)  # source lines whose code is on this line
    closer: bool = False  # starts with the `}` of a body
    opener: bool = False  # ends with the `{` of a body
    blank_before: bool = False  # forced (between top-level items)
    comment: bool = False


# ---- the writer --------------------------------------------------------------------------------
class Writer:
    """Renders the AST into `Line`s, recording which source lines each output line holds."""

    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self.out: list[Line] = []
        self._flat: dict[int, str] = {}

    # -- low level
    def line(self, indent: int, *spans: Span | None, closer: bool = False) -> Line:
        ln = Line(indent, closer=closer)
        self.out.append(ln)
        self.mark(*spans)
        return ln

    def write(self, text: str, *spans: Span | None) -> None:
        self.out[-1].text += text
        self.mark(*spans)

    def mark(self, *spans: Span | None) -> None:
        for s in spans:
            if s is not None:
                self.out[-1].lines.add(s.line)

    def src_line(self, offset: int) -> int:
        return self.src.line_col(offset)[0]

    def breaks_between(self, end: int, start: int) -> bool:
        return self.src_line(end) != self.src_line(max(end, start))

    # -- file
    def program(self, p: ast.Program) -> None:
        items: list[ast.Import | ast.BlockDef | ast.ModelDef] = sorted(
            [*p.imports, *p.blocks, *p.models], key=lambda i: i.span.start
        )
        prev: ast.Import | ast.BlockDef | ast.ModelDef | None = None
        for item in items:
            if isinstance(item, ast.Import):
                ln = self.line(0, item.span)
                self.write(f'import "{item.path}"')
            elif isinstance(item, ast.BlockDef):
                ln = self.line(0, item.span)
                start = len(self.out)
                self.block_def(item, 0)
                _align_expects(self.out[start - 1 :], 0)
            else:
                ln = self.line(0, item.span)
                self.model(item)
            # a model is set apart by a blank line; other items keep the source's blank lines
            ln.blank_before = prev is not None and (
                isinstance(prev, ast.ModelDef) or isinstance(item, ast.ModelDef)
            )
            prev = item

    def model(self, m: ast.ModelDef) -> None:
        self.write(f"model {m.name}{self.params(m.params)} {{", m.name_span)
        self.out[-1].opener = True
        for st in m.body:
            self.line(INDENT, st.span)
            start = len(self.out)
            self.statement(st, INDENT)
            _align_expects(self.out[start - 1 :], INDENT)
        self.line(0, self._end(m.span), closer=True)
        self.write("}")

    def statement(self, st: ast.Stmt, indent: int) -> None:
        if isinstance(st, ast.InputStmt):
            self.write(f"input {st.name}: {self.expr(st.shape)}", st.name_span, st.shape.span)
        elif isinstance(st, ast.Defaults):
            kws = ", ".join(self.kwarg(k) for k in st.keywords)
            self.write(f"defaults {st.op}({kws})", st.op_span, *(k.span for k in st.keywords))
        elif isinstance(st, ast.BlockDef):
            self.block_def(st, indent)
        else:
            lead = {"bind": "", "output": "output ", "aux": "aux "}[st.kind]
            self.write(f"{lead}{st.name} = ", st.name_span)
            self.pipeline(st.pipeline, indent, first_break=False)
            if st.weight is not None:
                self.write(f" weight {self.expr(st.weight)}", st.weight.span)

    def block_def(self, b: ast.BlockDef, indent: int) -> None:
        self.write(f"block {b.name}{self.params(b.params)} =", b.name_span)
        first = b.body.elements[0]
        if self.breaks_between(b.name_span.end, _start(first)):
            self.line(indent + INDENT, first.span)
            self.pipeline(b.body, indent, first_break=True)
        else:
            self.write(" ")
            self.pipeline(b.body, indent, first_break=False)

    def params(self, params: tuple[ast.Param, ...]) -> str:
        if not params:
            return ""
        parts = [
            p.name if p.default is None else f"{p.name} = {self.expr(p.default)}" for p in params
        ]
        self.mark(*(p.span for p in params))
        return "(" + ", ".join(parts) + ")"

    # -- pipelines
    def pipeline(self, pipe: ast.Pipeline, indent: int, first_break: bool) -> None:
        """Write `pipe` from the current position; continuation lines at `indent + INDENT`."""
        prev_end = 0  # read from the second element on, once set below
        for i, el in enumerate(pipe.elements):
            if i > 0:
                flat = self.flat(el)
                width = len(self.out[-1].text) + 4 + len(flat)
                if self.breaks_between(prev_end, _start(el)) or (
                    width > LINE_WIDTH - self.out[-1].indent and "\n" not in flat
                ):
                    self.line(indent + INDENT, el.span)
                    self.write("-> ")
                else:
                    self.write(" -> ")
            self.element(el)
            prev_end = el.span.end

    def element(self, el: ast.Element) -> None:
        """Write one element onto the current line (bodies continue on lines of their own)."""
        indent = self.out[-1].indent
        if isinstance(el, ast.Named):
            self.element(el.element)
            self.write(f" as {el.name}", el.name_span)
            if el.display is not None:
                self.write(f' "{el.display}"', el.display_span)
        elif isinstance(el, ast.Call):
            self.write(el.name + self.args(el.args), el.name_span, *self.arg_spans(el.args))
        elif isinstance(el, ast.Join):
            self.write(f"{el.kind}({', '.join(n for n, _ in el.names)})", *(s for _, s in el.names))
        elif isinstance(el, ast.Group):
            self.write("(", el.span)
            self.pipeline(el.pipeline, indent, first_break=False)
            self.write(")")
        elif isinstance(el, ast.Branches):
            self.body(el, el.kind, list(el.branches), indent)
        elif isinstance(el, ast.Residual):
            self.body(el, "residual" + self.args(el.args), [el.body], indent, el.args)
        else:
            self.body(el, "repeat" + self.args(el.args), [el.body], indent, el.args)

    def body(
        self, el: Any, head: str, parts: list[Any], indent: int, args: ast.Args | None = None
    ) -> None:
        """`head { ... }` with branches (`Branch`) or one pipeline, inline or one per line."""
        inline = self.flat(el)  # "\n" when the body spans lines or cannot be one line
        if "\n" not in inline and len(inline) + len(self.out[-1].text) <= LINE_WIDTH:
            self.write(inline, el.span, *self.arg_spans(args), *(p.span for p in parts))
            return
        self.write(head + " {", el.span, *self.arg_spans(args))
        self.out[-1].opener = True
        for i, part in enumerate(parts):
            self.line(indent + INDENT, part.span)
            if isinstance(part, ast.Branch):
                if part.label is not None:
                    self.write(f"{part.label}: ", part.label_span)
                self.pipeline(part.pipeline, indent + INDENT, first_break=False)
                nxt = parts[i + 1] if i + 1 < len(parts) else None
                if nxt is not None and _needs_semicolon(part, nxt):
                    self.write(";")
            else:
                self.pipeline(part, indent + INDENT, first_break=False)
        self.line(indent, self._end(el.span), closer=True)
        self.write("}")

    def flat_pipeline(self, pipe: ast.Pipeline) -> str | None:
        parts = [self.flat(e) for e in pipe.elements]
        if any("\n" in p for p in parts):
            return None
        return " -> ".join(parts)

    def flat(self, el: ast.Element) -> str:
        """`el` on one line (a body that needs several lines yields a text with a newline).

        Memoised per element: the layout asks for an element's flat text at every enclosing
        level, so without the memo nested bodies would cost O(size × depth).
        """
        key = id(el)  # the AST outlives the writer, so ids stay unique
        text = self._flat.get(key)
        if text is None:
            text = self._flat[key] = self._flatten(el)
        return text

    def _flatten(self, el: ast.Element) -> str:
        if isinstance(el, ast.Named):
            shown = f' "{el.display}"' if el.display is not None else ""
            return f"{self.flat(el.element)} as {el.name}{shown}"
        if isinstance(el, ast.Call):
            return el.name + self.args(el.args)
        if isinstance(el, ast.Join):
            return f"{el.kind}({', '.join(n for n, _ in el.names)})"
        if isinstance(el, ast.Group):
            inner = self.flat_pipeline(el.pipeline)
            return "\n" if inner is None else f"({inner})"
        parts: list[ast.Branch | ast.Pipeline]
        if isinstance(el, ast.Branches):
            head, parts = el.kind, list(el.branches)
        elif isinstance(el, ast.Residual):
            head, parts = "residual" + self.args(el.args), [el.body]
        else:
            head, parts = "repeat" + self.args(el.args), [el.body]
        if self.breaks_between(el.span.start, el.span.end - 1):
            return "\n"
        texts = []
        for part in parts:
            pipe = part.pipeline if isinstance(part, ast.Branch) else part
            text = self.flat_pipeline(pipe)
            if text is None:
                return "\n"
            label = f"{part.label}: " if isinstance(part, ast.Branch) and part.label else ""
            texts.append(label + text)
        inner = "; ".join(texts)
        return f"{head} {{ {inner} }}" if inner else f"{head} {{ }}"

    # -- arguments and expressions
    def args(self, args: ast.Args | None) -> str:
        if args is None:
            return ""
        parts = [self.expr(e) for e in args.positional] + [self.kwarg(k) for k in args.keywords]
        return "(" + ", ".join(parts) + ")"

    def arg_spans(self, args: ast.Args | None) -> list[Span]:
        if args is None:
            return []
        return [e.span for e in args.positional] + [k.span for k in args.keywords]

    def kwarg(self, k: ast.KwArg) -> str:
        return f"{k.name} = {self.expr(k.value)}"

    def expr(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Num):
            return e.span.source.text[e.span.start : e.span.end]  # as written: 1e-3 stays 1e-3
        if isinstance(e, ast.ShapeLit):
            return "x".join(str(d) for d in e.dims)
        if isinstance(e, ast.Bool):
            return "true" if e.value else "false"
        if isinstance(e, ast.NameRef):
            return e.id
        if isinstance(e, ast.FuncCall):
            return f"{e.name}({', '.join(self.expr(a) for a in e.args)})"
        if isinstance(e, ast.TupleLit):
            items = [self.expr(i) for i in e.items]
            return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
        if isinstance(e, ast.UnaryOp):
            inner = self.expr(e.operand)
            if _prec(e.operand) < 3:
                inner = f"({inner})"
            return e.op + (" " if inner[0] in "+-" else "") + inner
        assert isinstance(e, ast.BinOp)
        p = _PREC[e.op]
        left, right = self.expr(e.left), self.expr(e.right)
        if _prec(e.left) < p:
            left = f"({left})"
        if _prec(e.right) <= p:
            right = f"({right})"
        return f"{left} {e.op} {right}"

    def _end(self, span: Span) -> Span:
        return Span(span.source, max(span.start, span.end - 1), span.end)


def _align_expects(lines: list[Line], indent: int) -> None:
    """Line up the trailing `-> expect(...)` of a statement's lines in one column, the way the
    shipped architectures write their shape checks (only lines at the statement's own level)."""
    ends = []
    for ln in lines:
        cut = ln.text.rfind(" -> expect(")
        if (
            cut > 0
            and ln.indent <= indent + INDENT
            and ln.text.endswith(")")
            and ln.text[cut:].count("(") == ln.text[cut:].count(")")
        ):
            ends.append((ln, cut))
    if len(ends) < 2:
        return
    column = max(ln.indent + cut for ln, cut in ends) + 1
    for ln, cut in ends:
        pad = column - (ln.indent + cut)
        ln.text = ln.text[:cut] + " " * pad + ln.text[cut + 1 :]


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.BinOp):
        return _PREC[e.op]
    if isinstance(e, ast.UnaryOp):
        return 3
    return 4


def _start(el: ast.Element) -> int:
    return el.span.start


def _needs_semicolon(prev: ast.Branch, nxt: ast.Branch) -> bool:
    """A branch starting with '(' after one ending in a bare op would read as that op's args."""
    if nxt.label is not None:
        return False  # the next line starts with its label
    last = prev.pipeline.elements[-1]
    first = nxt.pipeline.elements[0]
    while isinstance(first, ast.Named):
        first = first.element
    return isinstance(last, ast.Call) and last.args is None and isinstance(first, ast.Group)
