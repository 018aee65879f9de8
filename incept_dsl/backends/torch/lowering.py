"""PyTorch backend, per op: the `LOWER` table mapping each IR op to the text of its module
constructor (None for a stateless op) and of its `forward` expression.

Every piece of text is built from validated identifiers and from `repr` of ints, floats, bools and
tuples (`pyval`); nothing of the program text is emitted verbatim.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def pyval(v: Any) -> str:
    """A literal for an attr value (ints, floats, bools, tuples thereof)."""
    if isinstance(v, bool | int):
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(pyval(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    raise TypeError(f"unexpected attribute value {v!r}")


def attr_path(scope: str) -> str:
    """`a.0.conv_1` -> `self.a[0].conv_1`."""
    out = "self"
    for part in scope.split("."):
        if part.isdigit():
            out += f"[{part}]"
        else:
            if not _IDENT.match(part) or keyword.iskeyword(part):
                raise ValueError(f"scope part {part!r} is not an identifier")
            out += f".{part}"
    return out


# ---- lowering table: op -> (module constructor or None, forward expression) ---------------------
Lowering = Callable[[dict[str, Any], tuple[int, ...], list[str], str], tuple[str | None, str]]


def _conv(a, shape, ins, mod):
    ctor = (
        f"nn.Conv2d({a['in_channels']}, {a['out_channels']}, kernel_size={pyval(a['kernel'])}"
        f", stride={pyval(a['stride'])}, padding={pyval(a['padding'])}"
        + (f", dilation={pyval(a['dilation'])}" if a["dilation"] != (1, 1) else "")
        + (f", groups={a['groups']}" if a["groups"] != 1 else "")
        + f", bias={a['bias']})"
    )
    return ctor, f"{mod}({ins[0]})"


def _bn(a, shape, ins, mod):
    kind = "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d"
    ctor = f"nn.{kind}({a['num_features']}, eps={a['eps']!r}, momentum={a['momentum']!r})"
    return ctor, f"{mod}({ins[0]})"


def _linear(a, shape, ins, mod):
    return (
        f"nn.Linear({a['in_features']}, {a['out_features']}, bias={a['bias']})",
        f"{mod}({ins[0]})",
    )


def _pool(fn: str):
    def lower(a, shape, ins, mod):
        extra = f", ceil_mode={a['ceil']}" if a["ceil"] else ""
        if fn == "avg_pool2d" and not a["count_include_pad"]:
            extra += ", count_include_pad=False"
        return None, (
            f"F.{fn}({ins[0]}, {pyval(a['kernel'])}, {pyval(a['stride'])}, "
            f"{pyval(a['padding'])}{extra})"
        )

    return lower


def _fn(template: str):
    def lower(a, shape, ins, mod):
        return None, template.format(*ins, **a)

    return lower


def _layer_scale(a, shape, ins, mod):
    """`gamma` (C,) at `<scope>.gamma`, as timm's LayerScale/LayerScale2d name it, created
    holding `init` (every init scheme leaves it so); broadcast over H×W on images."""
    ctor = (
        f"nn.ParameterDict({{'gamma': nn.Parameter(torch.full(({a['channels']},), "
        f"{a['init']!r}))}})"
    )
    gamma = f"{mod}.gamma.view(-1, 1, 1)" if len(shape) == 3 else f"{mod}.gamma"
    return ctor, f"{ins[0]} * {gamma}"


def _stochastic_depth(a, shape, ins, mod):
    """torchvision's StochasticDepth without torchvision: in training, each sample (`row`) or the
    whole batch (`batch`) is kept with probability 1 - p and then scaled by 1/(1 - p)."""
    x, keep = ins[0], 1.0 - a["p"]
    if a["p"] == 0.0:
        return None, x
    ones = (1,) * len(shape)
    size = (
        f"({x}.shape[0], {', '.join('1' for _ in ones)})"
        if a["mode"] == "row"
        else pyval((1, *ones))
    )
    noise = f"{x}.new_empty({size}).bernoulli_({keep!r})" + (f".div_({keep!r})" if keep else "")
    return None, f"({x} * {noise} if self.training else {x})"


def _upsample(a, shape, ins, mod):
    how = f"scale_factor={a['scale']!r}" if a["scale"] is not None else f"size={pyval(a['size'])}"
    corners = f", align_corners={a['align_corners']}" if a["mode"] == "bilinear" else ""
    return None, f"F.interpolate({ins[0]}, {how}, mode={a['mode']!r}{corners})"


def _crop(a, shape, ins, mod):
    """The centred window as a plain slice of H and W, `x[:, :, t:t + h, l:l + w]`, with the
    offsets and ends as integer literals (a view of the input)."""
    (top, left), (h, w) = a["offset"], a["size"]
    rows, cols = f"{pyval(top)}:{pyval(top + h)}", f"{pyval(left)}:{pyval(left + w)}"
    return None, f"{ins[0]}[:, :, {rows}, {cols}]"


def _conv_transpose(a, shape, ins, mod):
    ctor = (
        f"nn.ConvTranspose2d({a['in_channels']}, {a['out_channels']}, "
        f"kernel_size={pyval(a['kernel'])}, stride={pyval(a['stride'])}, "
        f"padding={pyval(a['padding'])}"
        + (
            f", output_padding={pyval(a['output_padding'])}"
            if a["output_padding"] != (0, 0)
            else ""
        )
        + (f", groups={a['groups']}" if a["groups"] != 1 else "")
        + f", bias={a['bias']})"
    )
    return ctor, f"{mod}({ins[0]})"


def _layernorm(a, shape, ins, mod):
    """nn.LayerNorm over the last dimension; on an image over C of each pixel (torchvision's
    LayerNorm2d: channels last, normalise, channels first)."""
    ctor = f"nn.LayerNorm({a['channels']}, eps={a['eps']!r})"
    if len(shape) == 3:
        return ctor, f"{mod}({ins[0]}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)"
    return ctor, f"{mod}({ins[0]})"


def _param(role: str, shape: tuple[int, ...], init: str) -> str:
    """A module holding one learned tensor `role` (state_dict key `<scope>.<role>`)."""
    return f"nn.ParameterDict({{{role!r}: nn.Parameter(torch.{init.format(pyval(shape))})}})"


def _class_token(a, shape, ins, mod):
    """torchvision's class_token: a (1, 1, D) vector, zeros at first, prepended to each sample."""
    x = ins[0]
    ctor = _param("token", (1, 1, a["dim"]), "zeros({})")
    return ctor, f"torch.cat([{mod}.token.expand({x}.shape[0], -1, -1), {x}], 1)"


def _pos_embedding(a, shape, ins, mod):
    """torchvision's pos_embedding: a (1, L, D) table from N(0, std²), added to the tokens."""
    init = "empty({})" + f".normal_(std={a['std']!r})"
    return _param("embedding", (1, a["length"], a["dim"]), init), f"{ins[0]} + {mod}.embedding"


def _attention(a, shape, ins, mod):
    x = ins[0]
    ctor = (
        f"nn.MultiheadAttention({a['dim']}, {a['heads']}, dropout={a['dropout']!r}"
        + (", bias=False" if not a["bias"] else "")
        + ", batch_first=True)"
    )
    return ctor, f"{mod}({x}, {x}, {x}, need_weights=False)[0]"


LOWER: dict[str, Lowering] = {
    "conv": _conv,
    "batchnorm": _bn,
    "linear": _linear,
    "maxpool": _pool("max_pool2d"),
    "avgpool": _pool("avg_pool2d"),
    "global_avgpool": _fn("F.adaptive_avg_pool2d({0}, 1)"),
    "adaptive_avgpool": lambda a, s, i, m: (
        None,
        f"F.adaptive_avg_pool2d({i[0]}, {pyval(a['size'])})",
    ),
    "lrn": _fn("F.local_response_norm({0}, {size}, alpha={alpha!r}, beta={beta!r}, k={k!r})"),
    "relu": _fn("F.relu({0})"),
    "relu6": _fn("F.relu6({0})"),
    "gelu": _fn("F.gelu({0})"),
    "silu": _fn("F.silu({0})"),
    "sigmoid": _fn("torch.sigmoid({0})"),
    "tanh": _fn("torch.tanh({0})"),
    "hardswish": _fn("F.hardswish({0})"),
    "hardsigmoid": _fn("F.hardsigmoid({0})"),
    "leaky_relu": _fn("F.leaky_relu({0}, {slope!r})"),
    "softmax": _fn("F.softmax({0}, dim={dim})"),
    "dropout": _fn("F.dropout({0}, {p!r}, self.training)"),
    "flatten": _fn("torch.flatten({0}, 1)"),
    "scale": _fn("{0} * {s!r}"),
    "concat": lambda a, s, i, m: (None, f"torch.cat([{', '.join(i)}], 1)"),
    "add": lambda a, s, i, m: (None, " + ".join(i)),
    "mul": lambda a, s, i, m: (None, " * ".join(i)),  # a C×1×1 gate broadcasts natively
    "slice": _fn("{0}[:, {start}:{end}]"),
    # nn.ChannelShuffle's order, spelt with views so that it runs on every device and dtype
    "channel_shuffle": lambda a, s, i, m: (
        None,
        f"{i[0]}.unflatten(1, ({a['groups']}, {s[0] // a['groups']})).transpose(1, 2).flatten(1, 2)",
    ),
    "layer_scale": _layer_scale,
    "groupnorm": lambda a, s, i, m: (
        f"nn.GroupNorm({a['groups']}, {a['num_channels']}, eps={a['eps']!r})",
        f"{m}({i[0]})",
    ),
    "stochastic_depth": _stochastic_depth,
    "upsample": _upsample,
    "crop": _crop,
    "conv_transpose": _conv_transpose,
    "layernorm": _layernorm,
    "tokens": _fn("{0}.flatten(2).transpose(1, 2)"),
    "class_token": _class_token,
    "pos_embedding": _pos_embedding,
    "attention": _attention,
    "select": _fn("{0}[:, {index}]"),
}
