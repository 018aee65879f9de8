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
