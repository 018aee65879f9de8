"""Box labels in the papers' style: "1×1 Conv, 64", "3×3 MaxPool /2 V", "Inception (3a)".

Every IR op has an entry in `LABELS` (a test checks it). A label function takes the op's attrs and
returns the text of one line. "V" marks valid (zero) padding on a kernel larger than 1×1, as the
Inception papers do; "same" padding is the unmarked default; any other padding is spelled out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.ops import OPS
from incept_dsl.text import fmt_shape

#: Display names of the activations (their titles in the op table).
ACT_NAMES = {act: OPS[act].title for act in ACTIVATIONS}

_SUFFIX = re.compile(r"^(?P<stem>[A-Za-z][A-Za-z_]*?)_?(?P<tag>\d+[A-Za-z]?)$")


def instance_title(instance: str, block: str) -> str:
    """The title of one applied block, names as written: `inception(...) as inception_3a` is
    "inception_3a"; an unnamed instance (`inception_2`) is titled by its block ("inception"); a
    name unrelated to its block's gets the block's after it (`inception_a(...) as mixed_5b`:
    "mixed_5b · inception_a")."""
    if instance == block or re.fullmatch(re.escape(block) + r"_\d+", instance):
        return block
    m = _SUFFIX.match(instance)
    stem = (m["stem"] if m else instance).lower().replace("_", "")
    kind = block.lower().replace("_", "")
    if not (kind.startswith(stem) or stem.startswith(kind)):
        return f"{instance} · {block}"
    return instance


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}×{p[1]}"


def _window(
    kind: str, a: dict[str, Any], dilation: tuple[int, int] = (1, 1), width: int | None = None
) -> str:
    """ "3×3 MaxPool /2 V", "3×3 Conv, 64 /2": kernel, name, width, the stride when not 1, the
    padding when not "same"."""
    k, s, p = a["kernel"], a["stride"], a["padding"]
    text = f"{k[0]}×{k[1]} {kind}" + (f", {width}" if width is not None else "")
    if s != (1, 1):
        text += f" /{_pair(s)}"
    same = ((k[0] - 1) // 2 * dilation[0], (k[1] - 1) // 2 * dilation[1])
    if tuple(p) != same:
        text += " V" if tuple(p) == (0, 0) else f" pad {_pair(p)}"
    return text


def _conv(a: dict[str, Any]) -> str:
    text = _window(_title("conv"), a, a["dilation"], a["out_channels"])
    if a["dilation"] != (1, 1):
        text += f", dilation {_pair(a['dilation'])}"
    if a["groups"] > 1:
        text += f", groups {a['groups']}"
    return text


def _conv_transpose(a: dict[str, Any]) -> str:
    """ "2×2 ConvTranspose, 64 ↑2": kernel, name, width, the stride as the factor it enlarges by
    (an arrow up, as "/2" marks a conv's downsampling), then the padding, output padding and
    groups when they are not the defaults."""
    k, s, p, op = a["kernel"], a["stride"], a["padding"], a["output_padding"]
    text = f"{k[0]}×{k[1]} {_title('conv_transpose')}, {a['out_channels']}"
    if s != (1, 1):
        text += f" ↑{_pair(s)}"
    if tuple(p) != (0, 0):
        text += f" pad {_pair(p)}"
    if tuple(op) != (0, 0):
        text += f", output pad {_pair(op)}"
    if a["groups"] > 1:
        text += f", groups {a['groups']}"
    return text


def _attention(a: dict[str, Any]) -> str:
    """ "Multi-Head Attention, 3 heads": one box for the whole op, with its head count."""
    heads = a["heads"]
    return f"{_title('attention')}, {heads} head{'s' if heads != 1 else ''}"


def _num(x: float) -> str:
    """`x` as `:g` writes it, the exponent without its zero padding: 0.5, 1e-6, 2.5e+10."""
    text = f"{x:g}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{exponent[0]}{exponent[1:].lstrip('0') or '0'}" if e else text


def _const(label: str) -> Callable[[dict[str, Any]], str]:
    return lambda a: label


def _title(op: str) -> str:
    return OPS[op].title


#: The box label of each op: its title in the op table, with the attributes a reader needs.
LABELS: dict[str, Callable[[dict[str, Any]], str]] = {
    "input": lambda a: str(a["name"]),
    "conv": _conv,
    "linear": lambda a: f"{_title('linear')}, {a['out_features']}",
    "maxpool": lambda a: _window(_title("maxpool"), a),
    "avgpool": lambda a: _window(_title("avgpool"), a),
    "adaptive_avgpool": lambda a: f"{_title('adaptive_avgpool')} {_pair(tuple(a['size']))}",
    "dropout": lambda a: f"{_title('dropout')} {_num(a['p'])}",
    "scale": lambda a: f"{_title('scale')} {_num(a['s'])}",
    "slice": lambda a: f"{_title('slice')} [{a['start']}:{a['end']}]",
    **{
        op: _const(_title(op))
        for op in ("batchnorm", "global_avgpool", "lrn", *ACTIVATIONS, "softmax", "flatten")
        if op != "leaky_relu"
    },
    "leaky_relu": lambda a: f"{_title('leaky_relu')} {_num(a['slope'])}",
    "concat": _const(_title("concat")),
    "add": _const(_title("add")),
    "mul": _const(_title("mul")),
    "channel_shuffle": lambda a: f"{_title('channel_shuffle')}, groups {a['groups']}",
    "layer_scale": lambda a: f"{_title('layer_scale')} {_num(a['init'])}",
    "groupnorm": lambda a: f"{_title('groupnorm')}, groups {a['groups']}",
    "stochastic_depth": lambda a: (
        f"{_title('stochastic_depth')} {_num(a['p'])}"
        + (" (batch)" if a["mode"] == "batch" else "")
    ),
    "upsample": lambda a: (
        f"{_title('upsample')} "
        + (f"×{_num(a['scale'])}" if a["scale"] is not None else fmt_shape(a["size"]))
        + f", {a['mode']}"
    ),
    "crop": lambda a: f"{_title('crop')} {fmt_shape(a['size'])}",
    "conv_transpose": _conv_transpose,
    "layernorm": _const(_title("layernorm")),
    "tokens": _const(_title("tokens")),
    "class_token": _const(f"+ {_title('class_token')}"),
    "pos_embedding": _const(f"+ {_title('pos_embedding')}"),
    "attention": _attention,
    "select": lambda a: f"{_title('select')} token {a['index']}",
}


def op_label(op: str, attrs: dict[str, Any]) -> str:
    """The one-line label of an IR op (its name, for an op this table does not know)."""
    fn = LABELS.get(op)
    return fn(attrs) if fn is not None else op
