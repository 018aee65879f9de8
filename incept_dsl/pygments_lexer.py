"""A Pygments lexer for `.incept` files, so documentation highlights the language.

Registered under the `pygments.lexers` entry point (pyproject.toml), so after installation
`pygmentize -l incept FILE`, Sphinx/MkDocs code blocks marked `incept`, and
`pygments.lexers.get_lexer_for_filename("x.incept")` find it. The op names come from the op table
(`incept_dsl.ir.ops`), so a new op is highlighted without touching this file.

Highlighting: keywords; declarations (`model NAME`, `block NAME`, `input/output/aux NAME`);
built-in ops; expression functions (`incept_dsl.ir.values.FUNCTIONS`, `make_divisible` among
them); the input dimensions of a block body (`in_channels`, `in_height`, `in_width`) as built-in
pseudo-names; symbolic values (`same`, `valid`, `global`, `none`, `auto`);
numbers, shapes such as `3x224x224`, strings, comments; `NAME = ...` keyword arguments inside
parentheses; branch labels and `as` names.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from incept_dsl.frontend.signatures import surface_op_names
from incept_dsl.ir.values import FUNCTIONS, INPUT_DIMS

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_KEYWORDS = ("import", "concat", "add", "mul", "residual", "repeat", "as", "weight", "defaults")
_SYMBOLS = ("same", "valid", "global", "none", "auto")


class InceptLexer(RegexLexer):
    """Lexer for the `.incept` architecture language (incept-dsl)."""

    name = "Incept"
    aliases = ["incept", "incept-dsl"]
    filenames = ["*.incept"]
    mimetypes = ["text/x-incept"]
    url = "https://example.invalid/incept-dsl"
    version_added = ""

    tokens = {
        "root": [
            # a binding at the start of a line (whitespace is lexed a line at a time for this)
            (
                rf"^([ \t]*)({_NAME})([ \t]*)(=)(?!=)",
                bygroups(Whitespace, Name.Variable, Whitespace, Operator),
            ),
            include("common"),
            (r"\(", Punctuation, "args"),
            (r"\)", Punctuation),
            (rf"({_NAME})([ \t]*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            include("words"),
            (r"[{};:,]", Punctuation),
        ],
        "args": [
            include("common"),
            (r"\(", Punctuation, "#push"),
            (r"\)", Punctuation, "#pop"),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            include("words"),
            (r"[{};:,]", Punctuation),
        ],
        "common": [
            (r"\n", Whitespace),
            (r"[ \t\r\f]+", Whitespace),
            (r"#[^\r\n]*", Comment.Single),
            (r'"[^"\r\n]*"', String.Double),
            (
                rf"\b(model|block)(\s+)({_NAME})",
                bygroups(Keyword.Declaration, Whitespace, Name.Class),
            ),
            (
                rf"\b(input|output|aux)(\s+)({_NAME})",
                bygroups(Keyword.Declaration, Whitespace, Name.Variable),
            ),
            (rf"\b(as)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Label)),
            (r"[0-9]+(x[0-9]+)+(?![A-Za-z0-9_])", Number.Integer),  # shapes and kernels: 3x224x224
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (r"->", Operator),
            (r"//|[-+*/%=]", Operator),
        ],
        "words": [
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(tuple(surface_op_names()), prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (words(FUNCTIONS, prefix=r"\b", suffix=r"\b(?=\s*\()"), Name.Function),
            (words(INPUT_DIMS, prefix=r"\b", suffix=r"\b"), Name.Builtin.Pseudo),
            (words(_SYMBOLS, suffix=r"\b"), Name.Constant),
            (_NAME, Name),
        ],
    }
