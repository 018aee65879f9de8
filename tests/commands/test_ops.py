"""`incept-dsl ops`: every op with its arguments and defaults, one op in full, and suggestions for
the names users type."""

from __future__ import annotations

import pytest

from incept_dsl.cli import main
from incept_dsl.commands.ops import KIND_TEXT, detail, listing, value_text
from incept_dsl.frontend.signatures import ALIASES, REQUIRED, SIGNATURES
from incept_dsl.frontend.synonyms import SYNONYMS, synonym_hint


def test_the_listing_has_every_op_with_every_argument(capsys) -> None:
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert out == listing() + "\n"
    for name, sig in SIGNATURES.items():
        line = next(line for line in out.splitlines() if line.split("(")[0].split(" ")[0] == name)
        for arg in sig.args:
            want = arg.name if arg.default is REQUIRED else f"{arg.name} = "
            assert want in line, (name, arg.name)
        for alias in sig.aliases:
            assert alias in line


def test_defaults_read_as_a_program_writes_them() -> None:
    assert [value_text(v) for v in (True, False, None, "same", 1e-5, (1, 7))] == [
        "true",
        "false",
        "none",
        "same",
        "1e-05",
        "(1, 7)",
    ]
    assert "conv(out, kernel, stride = 1, padding = same" in listing()


@pytest.mark.parametrize("name", sorted([*SIGNATURES, *ALIASES]))
def test_every_op_and_alias_has_a_detail_page(name: str, capsys) -> None:
    assert main(["ops", name]) == 0
    out = capsys.readouterr().out
    sig = SIGNATURES[ALIASES.get(name, name)]
    assert out.startswith(sig.name) and sig.doc in out
    assert all(f"  {a.name}: " in out for a in sig.args)


def test_every_argument_kind_is_explained() -> None:
    kinds = {a.kind for sig in SIGNATURES.values() for a in sig.args}
    assert kinds <= set(KIND_TEXT)
    assert "relu" in detail("conv")  # the activations `act =` takes are named


def test_an_unknown_op_exits_2_with_a_suggestion(capsys) -> None:
    assert main(["ops", "cnov"]) == 2
    assert "did you mean 'conv'?" in capsys.readouterr().err
    assert main(["ops", "conv2d"]) == 2
    assert "the language calls conv2d 'conv'" in capsys.readouterr().err


def test_synonyms_name_only_ops_of_the_language_or_of_v2() -> None:
    v2 = {"conv_transpose", "layernorm", "groupnorm", "stochastic_depth", "hardswish"}
    v2 |= {"hardsigmoid", "leaky_relu", "slice", "upsample", "attention"}
    assert set(SYNONYMS.values()) <= set(SIGNATURES) | v2
    assert not set(SYNONYMS) & (set(SIGNATURES) | set(ALIASES))
    assert synonym_hint("MHA", ["attention"]) is not None
    assert synonym_hint("mha", ["conv"]) is None  # an op this version lacks is not suggested


#: The names of v2 ops users bring from PyTorch, timm and papers (the issue's list).
V2_SYNONYMS = {
    "deconv": "conv_transpose",
    "convtranspose": "conv_transpose",
    "ConvTranspose2d": "conv_transpose",
    "ln": "layernorm",
    "drop_path": "stochastic_depth",
    "DropPath": "stochastic_depth",
    "hswish": "hardswish",
    "chunk": "slice",
    "split": "slice",
    "interpolate": "upsample",
    "resize": "upsample",
    "mha": "attention",
    "MultiheadAttention": "attention",
}


@pytest.mark.parametrize("name", sorted(V2_SYNONYMS))
def test_each_v2_synonym_is_suggested_by_ops_and_by_the_compiler(name: str, capsys) -> None:
    import incept_dsl
    from incept_dsl.errors import InceptError

    target = V2_SYNONYMS[name]
    hint = f"did you mean '{target}'? (the language calls {name} '{target}')"
    assert main(["ops", name]) == 2
    assert f"no op named '{name}'; {hint}" in capsys.readouterr().err
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(f"model m {{\n input x: 3x8x8\n output y = x -> relu -> {name}(1) }}")
    assert e.value.message == f"unknown op or block '{name}'"
    assert e.value.hint == hint and (e.value.line, e.value.column) == (3, 26)


def test_an_op_in_another_case_is_named_in_lower_case(capsys) -> None:
    assert synonym_hint("LayerNorm", SIGNATURES) == (
        "did you mean 'layernorm'? (op names are lower case)"
    )
    assert synonym_hint("Conv_Transpose", SIGNATURES) is not None
    assert synonym_hint("layernorm", SIGNATURES) is None  # an op is no synonym
    assert main(["ops", "ReLU"]) == 2
    assert "did you mean 'relu'? (op names are lower case)" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SYNONYMS))
def test_every_synonym_names_an_op_of_the_language(name: str) -> None:
    target = SYNONYMS[name]
    assert target in SIGNATURES and synonym_hint(name, SIGNATURES) is not None
    assert main(["ops", target]) == 0


def test_the_v2_ops_are_listed_with_their_arguments_and_defaults(capsys) -> None:
    lines = listing().splitlines()
    want = [
        "conv_transpose(out, kernel, stride = 1, padding = 0, output_padding = 0, groups = 1, "
        "bias = auto, bn = false, act = none)",
        "layernorm(eps = 1e-05)",
        "slice(start, end)",
        "tokens",
        "class_token",
        "pos_embedding(std = 0.02)",
        "attention(heads, dropout = 0.0, bias = true)",
        "select(index = 0)",
        "upsample(scale = none, size = none, mode = nearest, align_corners = false)",
    ]
    for line in want:
        assert line in lines, line
    page = detail("conv_transpose")
    assert "  padding: a whole number >= 0 or HxW (e.g. 0 or 1x0); default 0" in page
    assert "  output_padding: a whole number >= 0 or HxW (e.g. 0 or 1x0); default 0" in page
    assert "  heads: a whole number >= 1; required" in detail("attention")
    assert "  index: a whole number; default 0; at least 0" in detail("select")
