"""Cost tables (`incept_dsl.backends.summary.table`): the lecture's tables row by row, totals against
counts taken on the PyTorch module with forward hooks, every format, the CLI."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import SUMMARY_TINY as TINY

import incept_dsl
from incept_dsl.backends.summary.table import FORMATS, VIEWS
from incept_dsl.cli import main

ROOT = Path(__file__).resolve().parents[3]
ARCH = ROOT / "architectures"
GOLDEN = ROOT / "tests" / "golden" / "summary"


def kilo(x: float) -> int:
    """Round half up, as the lecture's tables do (253.5 KB -> 254)."""
    return math.floor(x + 0.5)


# ---- the lecture's AlexNet table (seed 004, Figure 8.1; input 227×227) -------------------------
# layer, op, output C, output H/W (None: flat), memory (KB), params (k), "flop" (M; really MACs)
LECTURE_ALEXNET = [
    ("conv1", "conv", 64, 56, 784, 23, 73),
    ("pool1", "maxpool", 64, 27, 182, 0, 0),
    ("conv2", "conv", 192, 27, 547, 307, 224),
    ("pool2", "maxpool", 192, 13, 127, 0, 0),
    ("conv3", "conv", 384, 13, 254, 664, 112),
    ("conv4", "conv", 256, 13, 169, 885, 145),
    ("conv5", "conv", 256, 13, 169, 590, 100),
    ("pool5", "maxpool", 256, 6, 36, 0, 0),
    ("flatten", "flatten", 9216, None, 36, 0, 0),
    ("fc6", "linear", 4096, None, 16, 37_749, 38),
    ("fc7", "linear", 4096, None, 16, 16_777, 17),
    ("fc8", "linear", 1000, None, 4, 4_096, 4),
]
#: where the lecture's table disagrees with its own arithmetic: conv4 is 256·13·13 × 384·3·3
#: = 149,520,384 MACs (150 M, not 145); the fc rows' params omit the biases (9216·4096 =
#: 37,748,736 -> 37,749 k; with the 4,096 biases it is 37,752,832 -> 37,753 k).
LECTURE_SLIPS = {
    ("conv4", "macs"): 149_520_384,
    ("fc6", "params"): 37_752_832,
    ("fc7", "params"): 16_781_312,
    ("fc8", "params"): 4_097_000,
}


def test_lecture_alexnet_table_row_by_row():
    """architectures/alexnet.incept (torchvision's layout, the lecture's 227×227 input) names its
    layers as the lecture does; each row's numbers, rounded as the table rounds them."""
    s = incept_dsl.load("alexnet.incept", model="alexnet").summary()
    assert s.inputs == {"image": (3, 227, 227)}
    by_name = {r.name: r for r in s.rows}
    rows = [
        by_name[e[0]] if e[0] in by_name else next(r for r in s.rows if r.op == e[1])
        for e in LECTURE_ALEXNET
    ]
    assert [r.op for r in rows] == [e[1] for e in LECTURE_ALEXNET]
    for r, (name, _, c, hw, kb, params_k, mflop) in zip(rows, LECTURE_ALEXNET, strict=True):
        assert r.output_shape == ((c, hw, hw) if hw else (c,)), name
        assert kilo(r.memory_bytes / 1024) == kb, name
        if (name, "params") in LECTURE_SLIPS:
            assert r.params == LECTURE_SLIPS[name, "params"]
            assert kilo(r.params / 1000) != params_k  # the table left the biases out
            assert kilo((r.params - r.output_shape[0]) / 1000) == params_k
        else:
            assert kilo(r.params / 1000) == params_k, name
        if (name, "macs") in LECTURE_SLIPS:
            assert r.macs == LECTURE_SLIPS[name, "macs"]
            assert kilo(r.macs / 1e6) == 150 != mflop
        else:
            assert kilo(r.macs / 1e6) == mflop, name
    # the worked equations: 8.3 (conv1 params), 8.5 (conv1 MACs; the text's "≈ 78M" is a slip
    # for 73 M), 8.7 (pool1), 8.10 (fc6 MACs; eq. 8.9's 37,725,832 is a slip for 37,752,832)
    assert (rows[0].params, rows[0].macs, rows[1].macs) == (23_296, 72_855_552, 419_904)
    assert (rows[9].macs, rows[9].params) == (37_748_736, 37_752_832)


# ---- the lecture's GoogLeNet tables (seed 004, Figures 8.7 and 8.9) -----------------------------
# layer, output C, H/W, memory (KB), params (k), flop (M)
LECTURE_STEM = [
    ("conv", 64, 112, 3136, 9, 118),
    ("maxpool", 64, 56, 784, 0, 2),
    ("conv", 64, 56, 784, 4, 13),
    ("conv", 192, 56, 2352, 111, 347),
    ("maxpool", 192, 28, 588, 0, 1),
]


def test_lecture_googlenet_stem_table():
    s = incept_dsl.load("googlenet.incept", model="googlenet").summary()
    stem = []
    for r in s.rows:
        if r.block.startswith("inception"):
            break
        if r.op in ("conv", "maxpool"):  # the lecture leaves out the LRNs and ReLUs
            stem.append(r)
    assert len(stem) == len(LECTURE_STEM)
    for r, (op, c, hw, kb, params_k, mflop) in zip(stem, LECTURE_STEM, strict=True):
        assert (r.op, r.output_shape) == (op, (c, hw, hw))
        assert (kilo(r.memory_bytes / 1024), kilo(r.params / 1000), kilo(r.macs / 1e6)) == (
            kb,
            params_k,
            mflop,
        )
    # "Total from 224 to 28: Memory 7.5 MB, Params 124K, MFLOP 418": memory and params agree,
    # the MACs do not: the rows above sum to 481 M (118 + 2 + 13 + 347 + 1); 418 is a slip
    assert round(sum(r.memory_bytes for r in stem) / 2**20, 1) == 7.5
    assert sum(r.params for r in stem) == 124_416
    assert sum(r.macs for r in stem) == 480_836_608
    # Figure 8.9: avg-pool 1024×7×7 -> 1024×1×1 (4 KB, 0, 0) and fc 1024 -> 1000 (1,025 k params)
    pool, fc = (r for r in s.rows if r.op in ("avgpool", "linear"))
    assert (
        pool.output_shape,
        kilo(pool.memory_bytes / 1024),
        pool.params,
        kilo(pool.macs / 1e6),
    ) == ((1024, 1, 1), 4, 0, 0)
    assert kilo(fc.params / 1000) == 1025 and fc.macs == 1_024_000


def test_googlenet_paper_totals_and_table1_blocks():
    """Table 1's shape: one row per block, the inception blocks' own channel numbers, depth 2."""
    s = incept_dsl.load("googlenet.incept", model="googlenet").summary(by="block")
    blocks = {b.name: b for b in s.rows}
    assert blocks["inception_3a"].channels == {
        "#1×1": "64",
        "#3×3 reduce": "96",
        "#3×3": "128",
        "#5×5 reduce": "16",
        "#5×5": "32",
        "pool proj": "32",
    }
    assert blocks["inception_5b"].channels["#3×3"] == "384"
    assert (blocks["inception_4e"].depth, blocks["inception_4e"].output_shape) == (2, (832, 14, 14))
    assert (blocks["conv_1"].type, blocks["conv_1"].patch, blocks["conv_1"].depth) == (
        "convolution",
        "7×7/2",
        1,
    )
    assert blocks["dropout_1"].type == "dropout (40%)"
    assert blocks["inception_4a"].type == "inception"  # the block's name, kept by elaboration
    assert "aux_head_1" not in blocks  # aux heads are training-only
    # Table 1's inception (3a): 128 M ops counting only its convolutions (its pool adds 1.35 M)
    conv_macs = sum(r.macs for r in s.layers if r.block == "inception_3a" and r.op == "conv")
    assert conv_macs == 128_049_152
    # the paper: "about 6.8 M parameters", "1.5 billion multiply-adds"; this program, exactly:
    assert s.without_aux.params == 6_998_552 and s.with_aux.params == 13_378_280
    assert sum(r.macs for r in s.layers if r.op in ("conv", "linear")) == 1_582_671_872
    assert sum(b.params for b in s.rows) == s.total.params


# ---- totals against counts taken on the PyTorch module ----------------------------------------
def _architecture_files() -> list[Path]:
    return sorted(ARCH.glob("*.incept"))


def _hooked_run(model, module, train: bool) -> tuple[int, int]:
    """(conv + linear MACs per sample, parameters the forward pass read), the MACs counted with
    forward hooks from each module's own attributes and the output PyTorch computed, the
    parameters as the arguments of the torch operations that ran (so also those no Conv2d, Linear
    or BatchNorm holds: LayerNorm, attention, layer scales, class tokens, position tables)."""
    import torch
    from torch import nn
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_leaves

    counted = (nn.Conv2d, nn.Linear)
    total = 0
    owned = {id(p): p for p in module.parameters()}
    read: dict[int, nn.Parameter] = {}

    class Reads(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            for leaf in tree_leaves((args, kwargs or {})):
                if id(leaf) in owned:
                    read[id(leaf)] = owned[id(leaf)]
            return func(*args, **(kwargs or {}))

    def hook(mod, inputs, output):
        nonlocal total
        per_sample = output.numel() // output.shape[0]
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += per_sample * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            total += per_sample * mod.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, counted)]
    device = next(module.parameters()).device
    module.train(train)
    with torch.no_grad(), Reads():
        module(*(torch.zeros(2, *shape, device=device) for shape in model.inputs.values()))
    for h in handles:
        h.remove()
    return total, sum(p.numel() for p in read.values())


def _module(model):
    """The compiled module on the meta device (shapes only: fast); on the CPU if that fails."""
    import torch

    try:
        with torch.device("meta"):
            return model.to_torch()
    except (NotImplementedError, RuntimeError):
        return model.to_torch()


def _conv_linear(s, parts: tuple[str, ...]) -> int:
    return sum(r.macs for r in s.layers if r.op in ("conv", "linear") and r.part in parts)


@pytest.mark.parametrize("path", _architecture_files(), ids=lambda p: p.stem)
def test_totals_equal_pytorch_hook_counts(path):
    for model in incept_dsl.load_all(path):
        s = model.summary(keep_aux=True)
        module = _module(model)
        assert sum(p.numel() for p in module.parameters()) == s.with_aux.params, model.name
        assert sum(b.numel() for b in module.buffers()) == s.with_aux.buffers, model.name

        macs, params = _hooked_run(model, module, train=False)
        assert (macs, params) == (_conv_linear(s, ("main",)), s.without_aux.params), model.name
        if model.aux:
            macs, _ = _hooked_run(model, module, train=True)
            assert macs == _conv_linear(s, ("main", "aux")), model.name
        assert sum(b.params for b in s.blocks) == s.with_aux.params
        for by in VIEWS:  # every view renders in every format
            view = model.summary(by=by, flops=True)
            assert all(view.render(fmt) for fmt in FORMATS)


#: MACs (conv + linear) of the references, ANCHORS.md (torchvision / timm, random init)
REFERENCE_MACS = {
    ("alexnet", "alexnet"): (224, 714_188_480),
    ("googlenet", "googlenet_tv"): (224, 1_498_376_192),
    ("inception_v3", "inception_v3"): (299, 5_713_216_096),
    ("inception_v4", "inception_v4"): (299, 12_253_974_624),
    ("inception_resnet_v2", "inception_resnet_v2"): (299, 13_155_794_016),
}


@pytest.mark.parametrize(("file", "name"), sorted(REFERENCE_MACS))
def test_reference_macs_from_anchors(file, name):
    assert (ARCH / f"{file}.incept").exists(), f"architectures/{file}.incept is missing"
    size, expected = REFERENCE_MACS[file, name]
    s = incept_dsl.load(f"{file}.incept", model=name, input_shape=(3, size, size)).summary()
    assert sum(r.macs for r in s.layers if r.op in ("conv", "linear")) == expected


#: the same table's figures given in G (2 decimals)
REFERENCE_GMACS = {
    ("vgg", "vgg16"): 15.47,
    ("vgg", "vgg19"): 19.63,
    ("resnet", "resnet18"): 1.81,
    ("resnet", "resnet34"): 3.66,
    ("resnet", "resnet50"): 4.09,
    ("resnet", "resnet101"): 7.80,
    ("resnet", "resnet152"): 11.51,
}


@pytest.mark.parametrize(("file", "name"), sorted(REFERENCE_GMACS))
def test_reference_gmacs_from_anchors(file, name):
    assert (ARCH / f"{file}.incept").exists(), f"architectures/{file}.incept is missing"
    s = incept_dsl.load(f"{file}.incept", model=name, input_shape=(3, 224, 224)).summary()
    macs = sum(r.macs for r in s.layers if r.op in ("conv", "linear"))
    assert round(macs / 1e9, 2) == REFERENCE_GMACS[file, name]


# ---- formats ------------------------------------------------------------------------------------

GOLDEN_CASES = {
    # file name: (program, options, format)
    "tiny_layers.txt": (TINY, {}, "text"),
    "tiny_layers_aux_flops.md": (TINY, {"keep_aux": True, "flops": True}, "markdown"),
    "tiny_blocks.csv": (TINY, {"by": "block", "keep_aux": True}, "csv"),
    "tiny_layers.tex": (TINY, {}, "latex"),
    "tiny_layers_aux.json": (TINY, {"keep_aux": True}, "json"),
    "googlenet_blocks.txt": ("googlenet", {"by": "block"}, "text"),
}


def _load(program: str):
    if program == "googlenet":
        return incept_dsl.load("googlenet.incept", model="googlenet")
    return incept_dsl.loads(program, name="tiny.incept")


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case, update_goldens):
    program, options, fmt = GOLDEN_CASES[case]
    text = _load(program).summary(**options).render(fmt)
    path = GOLDEN / case
    if update_goldens:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_deterministic(fmt):
    a = _load(TINY).summary(keep_aux=True, by="block").render(fmt)
    b = _load(TINY).summary(keep_aux=True, by="block").render(fmt)
    assert a == b


def test_tiny_counts_by_hand():
    s = _load(TINY).summary(keep_aux=True)
    r = {x.name: x for x in s.rows}
    assert r["conv_1.conv"].macs == 16 * 16 * 16 * 3 * 3 * 3
    assert r["conv_1.bn"].params == 32 and r["conv_1.bn"].buffers == 33
    assert r["conv_1.bn"].macs == 16 * 16 * 16  # BN: one multiply-add per element
    assert r["conv_1.relu"].macs == 0 and r["conv_1.relu"].memory_bytes == 16 * 16 * 16 * 4
    assert r["mix.concat_1"].input_shapes == ((8, 8, 8),) * 3
    assert r["add_1"].macs == 24 * 8 * 8
    assert r["scale_1"].macs == 24 * 8 * 8
    assert (r["linear_1"].part, r["linear_2"].part) == ("aux", "main")
    assert s.with_aux.params - s.without_aux.params == 24 * 10 + 10
    assert s.without_aux == _load(TINY).summary().total


def test_markdown_is_a_well_formed_pipe_table():
    for by in ("layer", "block"):
        md = _load(TINY).summary(keep_aux=True, flops=True, by=by).to_markdown()
        lines = md.splitlines()
        table = [ln for ln in lines if ln.startswith("|")]
        cells = [len(re.split(r"(?<!\\)\|", ln)) - 2 for ln in table]
        assert len(set(cells)) == 1 and cells[0] >= 10
        assert re.fullmatch(r"\|(:---|---:)(\|(:---|---:))*\|", table[1])
        assert lines[lines.index(table[0]) - 1] == ""  # a blank line before the table
        assert len(table) == 2 + len(_load(TINY).summary(keep_aux=True, by=by).rows) + 1


def test_csv_is_raw_numbers():
    import csv
    import io

    s = _load(TINY).summary()
    rows = list(csv.DictReader(io.StringIO(s.to_csv())))
    assert [r["name"] for r in rows] == [r.name for r in s.rows]
    assert sum(int(r["macs"]) for r in rows) == s.total.macs
    assert rows[0]["input_shape"] == "3x32x32" and rows[0]["kernel"] == "3x3"


def test_json_schema():
    s = _load(TINY).summary(keep_aux=True)
    data = json.loads(s.to_json())
    assert data["model"] == "tiny" and data["input"] == {"image": [3, 32, 32]}
    for layer in data["layers"]:
        assert {
            "name",
            "op",
            "input_shape",
            "output_shape",
            "params",
            "macs",
            "memory_bytes",
        } <= set(layer)
        assert layer["flops"] == 2 * layer["macs"]
    for key in ("params", "macs"):
        assert data["total"][key] == sum(layer[key] for layer in data["layers"])
    assert data["total"]["memory_bytes"] == sum(
        layer["memory_bytes"] for layer in data["layers"] if not layer["view"]
    )  # flatten: a view
    assert data["totals"]["with_aux"]["params"] == data["total"]["params"]
    assert data["layers"][0]["output_shape"] == [16, 16, 16]  # no batch dimension


@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (apt-get install texlive-latex-base "
    "texlive-latex-recommended)",
)
def test_latex_compiles_with_booktabs(tmp_path):
    tex = _load(TINY).summary(keep_aux=True, by="block", flops=True).to_latex()
    doc = tmp_path / "t.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n"
        "\\usepackage[margin=1cm,landscape]{geometry}\n\\begin{document}\n"
        + tex
        + "\\end{document}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_opt_level_reports_the_change():
    s = _load(TINY).summary(opt_level=1)
    assert s.baseline is not None and s.baseline["without_aux"] == _load(TINY).summary().total
    assert any(n.startswith("-O0 → -O1: layers ") for n in s.notes())
    assert json.loads(s.to_json())["baseline"]["opt_level"] == 0


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_opt_level_1_table_describes_the_optimised_module(name):
    """-O1 (sibling 1×1s merged, BN folded): the table's totals are those of the -O1 PyTorch
    module, counted with hooks; Table 1's channel columns survive the merge."""
    model = incept_dsl.load("googlenet.incept", model=name)
    s = model.summary(opt_level=1)
    module = model.to_torch(opt_level=1).to("meta")
    assert sum(p.numel() for p in module.parameters()) == s.without_aux.params
    macs, _ = _hooked_run(model, module, train=False)
    assert macs == _conv_linear(s, ("main",))
    # blocks with branch columns keep them (a pass may remove a block, such as a dropout, whole)
    o0 = {b.name: b.channels for b in model.summary(by="block").blocks if b.channels}
    o1 = {b.name: b.channels for b in model.summary(opt_level=1, by="block").blocks if b.channels}
    assert o1 == o0 and len(o0) == 9


def test_conventions_are_stated_in_every_format():
    s = _load(TINY).summary()
    for fmt in ("text", "markdown", "latex"):
        out = s.render(fmt)
        assert "multiply-adds" in out and "FLOPs = 2" in out and "1024 bytes" in out, fmt
    assert "FLOPs = 2" in json.loads(s.to_json())["conventions"]["macs"]


# ---- command line -------------------------------------------------------------------------------
def test_cli_summary_json_and_block_view(capsys):
    assert main(["summary", "googlenet.incept", "--model", "googlenet", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["params"] == 6_998_552
    assert main(["summary", "googlenet.incept", "-m", "googlenet", "--by", "block"]) == 0
    assert "inception_3a  inception" in capsys.readouterr().out


def test_cli_writes_the_format_the_suffix_names(tmp_path, capsys):
    out = tmp_path / "t.md"
    assert main(["summary", "googlenet.incept", "-m", "googlenet", "-o", str(out)]) == 0
    assert out.read_text().splitlines()[2].startswith("| name | op |")
    out = tmp_path / "t.csv"
    assert (
        main(["compile", "googlenet.incept", "-m", "googlenet", "--to", "summary", "-o", str(out)])
        == 0
    )
    assert out.read_text().startswith("name,op,part,")
    out = tmp_path / "t.json"
    assert (
        main(
            [
                "compile",
                "googlenet.incept",
                "-m",
                "googlenet",
                "--to",
                "summary",
                "--by",
                "block",
                "--flops",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert [b["name"] for b in json.loads(out.read_text())["blocks"]][:2] == ["conv_1", "maxpool_1"]


def test_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.incept"
    bad.write_text(
        "model m {\n    input x: 3x8x8\n    output y = x -> conv(4, 9, padding = valid)\n}\n"
    )
    assert main(["summary", str(bad)]) == 1
    assert "bad.incept:3:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["summary", "googlenet.incept", "--by", "row"])
    assert exc.value.code == 2
