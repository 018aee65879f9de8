"""Lowering surface ops to IR nodes: `conv(bn = true, act = relu)` becomes conv, batchnorm and
relu nodes, `avgpool(global)` a global_avgpool, and so on.

`LOWERINGS` maps each surface op (its canonical name in `SIGNATURES`; aliases are resolved before)
to the function that lowers it, so a new op is one entry. `expect` has none: it adds no node and is
checked where it is applied (`incept_dsl.ir.elaborate_elements`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incept_dsl.errors import InceptError, InceptErrors, InceptShapeError
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import ACTIVATIONS, SIGNATURES, Signature
from incept_dsl.ir.args import has_unknown_keyword, misspelt, op_args, read_arg
from incept_dsl.ir.elaborate_bounds import BoundsLayer
from incept_dsl.ir.elaborate_context import Ctx, Scope
from incept_dsl.ir.shapes import ShapeProblem, crop_offset, need_image
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


@dataclass(frozen=True)
class OpCall:
    """One op application being lowered: its checked arguments (`a`), its input tensor and that
    tensor's shape, the scope it is applied in, its `as NAME` if any, and where it is written."""

    a: dict[str, Any]
    x: int
    shape_in: tuple[int, ...]
    base: Scope
    name: str | None
    name_span: Span | None
    span: Span

    def scope(self, op: str) -> str:
        """Claim this op's scope in `base` (its `as NAME`, else `<op>_<k>`); the full name."""
        return self.base.full(self.base.name(op, self.name, self.name_span))


class OpLayer(BoundsLayer):
    """Checks an op's arguments and lowers it through `LOWERINGS`."""

    def _op(
        self,
        sig: Signature,
        call: ast.Call,
        x: int,
        ctx: Ctx,
        name: str | None,
        name_span: Span | None,
    ) -> int:
        errors: list[InceptError] = []
        given = self._bind_args(sig.arg_names, call.args, sig.name, ctx, errors)
        a = op_args(
            sig,
            given,
            self.defaults.get(sig.name, {}),
            call.span,
            errors,
            misspelt(call.args, sig.arg_names),
            has_unknown_keyword(call.args, sig.arg_names),
        )
        if errors:
            raise InceptErrors.of(errors)
        lower = LOWERINGS.get(sig.name)
        if lower is None:  # pragma: no cover - every op but `expect` has a lowering
            raise AssertionError(f"no elaboration for op {sig.name}")
        at = OpCall(a, x, self.g.shape(x), ctx.scope, name, name_span, call.span)
        return lower(self, sig.name, at)

    def _act(self, act: str | None, x: int, scope: str, span: Span) -> int:
        """The activation `act = NAME` of a conv or linear, after node `x` (`x` itself for none),
        with its arguments from `_implied` (`act = leaky_relu` has slope 0.01 unless the model
        says `defaults leaky_relu(slope = s)`)."""
        if act is None:
            return x
        return self._add(act, self._implied(act, span), [x], f"{scope}.{act}", span)

    def _implied(self, op: str, span: Span) -> dict[str, Any]:
        """The arguments of `op` when another op's call at `span` implies it (`bn = true`,
        `act = NAME`): each from the model's `defaults` for `op`, else the signature's default;
        a value written in `defaults` was checked against its range there."""
        written = self.defaults.get(op, {})
        out: dict[str, Any] = {}
        for arg in SIGNATURES[op].args:
            value, where = written.get(arg.name, (arg.default, span))
            out[arg.name] = read_arg(arg, value, where, f"{op}'s '{arg.name}'")
        return out


#: Lowers one op application (the elaborator, the canonical op name, the application) and
#: returns the node of its output.
Lowering = Callable[[OpLayer, str, OpCall], int]


def _identity(el: OpLayer, op: str, at: OpCall) -> int:
    return at.x


def _plain(*attrs: str) -> Lowering:
    """The lowering of an op that becomes one IR node of its name, with the arguments `attrs`."""

    def lower(el: OpLayer, op: str, at: OpCall) -> int:
        scope = at.scope(op)
        return el._add(op, {k: at.a[k] for k in attrs}, [at.x], scope, at.span)

    return lower


def _conv_input(op: str, at: OpCall) -> int:
    """The input channels of a conv or transposed conv, checked against its groups."""
    a, shape_in, span = at.a, at.shape_in, at.span
    try:
        need_image(op, shape_in)
    except ShapeProblem as p:
        raise InceptShapeError(p.message, span, hint=p.hint) from None
    cin, groups = shape_in[0], a["groups"]
    if cin % groups or a["out"] % groups:
        raise InceptShapeError(
            f"groups = {groups} must divide both the input channels ({cin}) and the output "
            f"channels ({a['out']})",
            span,
        )
    return cin


def _conv_layer(el: OpLayer, op: str, at: OpCall, attrs: dict[str, Any]) -> int:
    """The conv node `op` with `attrs`, then its batch norm (`bn = true`) and activation."""
    a, span = at.a, at.span
    bn = a["bn"]
    attrs["bias"] = (not bn) if a["bias"] == "auto" else a["bias"]
    scope = at.scope(op)
    y = el._add(op, attrs, [at.x], f"{scope}.conv" if bn else scope, span)
    if bn:  # the batchnorm defaults apply (checked against their ranges where written)
        norm = {"num_features": a["out"], **el._implied("batchnorm", span)}
        y = el._add("batchnorm", norm, [y], f"{scope}.bn", span)
    return el._act(a["act"], y, scope, span)


def _conv(el: OpLayer, op: str, at: OpCall) -> int:
    a = at.a
    kernel = a["kernel"]
    attrs = {
        "in_channels": _conv_input("conv", at),
        "out_channels": a["out"],
        "kernel": kernel,
        "stride": a["stride"] if a["stride"] != "kernel" else kernel,
        "padding": _padding(a["padding"], kernel, a["dilation"]),
        "dilation": a["dilation"],
        "groups": a["groups"],
    }
    return _conv_layer(el, "conv", at, attrs)


def _conv_transpose(el: OpLayer, op: str, at: OpCall) -> int:
    a = at.a
    attrs = {
        "in_channels": _conv_input(op, at),
        "out_channels": a["out"],
        **{k: a[k] for k in ("kernel", "stride", "padding", "output_padding", "groups")},
    }
    return _conv_layer(el, op, at, attrs)


def _linear(el: OpLayer, op: str, at: OpCall) -> int:
    a, shape_in, span = at.a, at.shape_in, at.span
    if len(shape_in) == 3:
        raise InceptShapeError(
            f"linear needs a flat tensor N×F or tokens N×L×D; got the image tensor "
            f"{fmt_shape(shape_in)}",
            span,
            hint="insert `-> flatten ->` (or `avgpool(global) -> flatten`) before it",
        )
    scope = at.scope("linear")
    attrs = {"in_features": shape_in[-1], "out_features": a["out"], "bias": a["bias"]}
    y = el._add("linear", attrs, [at.x], scope, span)
    return el._act(a["act"], y, scope, span)


def _pool(el: OpLayer, op: str, at: OpCall) -> int:
    a = at.a
    scope = at.scope(op)
    if a["kernel"] == "global":
        return el._add("global_avgpool", {}, [at.x], scope, at.span)
    k = a["kernel"]
    stride = k if a["stride"] == "kernel" else a["stride"]
    pad = _padding(a["padding"], k, (1, 1))
    attrs = {"kernel": k, "stride": stride, "padding": pad, "ceil": a["ceil"]}
    if op == "avgpool":
        attrs["count_include_pad"] = a["count_include_pad"]
    return el._add(op, attrs, [at.x], scope, at.span)


def _batchnorm(el: OpLayer, op: str, at: OpCall) -> int:
    scope = at.scope(op)
    if len(at.shape_in) == 0:
        raise InceptShapeError("batchnorm needs channels", at.span)
    a = at.a
    attrs = {"num_features": at.shape_in[0], "eps": a["eps"], "momentum": a["momentum"]}
    return el._add(op, attrs, [at.x], scope, at.span)


def _layer_scale(el: OpLayer, op: str, at: OpCall) -> int:
    """One learned multiplier per channel of an image (C of C×H×W) or feature of a flat tensor."""
    shape = at.shape_in
    attrs = {"channels": _channels(shape), "init": at.a["init"]}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _groupnorm(el: OpLayer, op: str, at: OpCall) -> int:
    shape = at.shape_in
    attrs = {"groups": at.a["groups"], "num_channels": shape[0], "eps": at.a["eps"]}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _channels(shape: tuple[int, ...]) -> int:
    """The channels a per-channel op sees: C of C×H×W, F of a flat tensor, D of tokens L×D."""
    return shape[0] if len(shape) == 3 else shape[-1]


def _layernorm(el: OpLayer, op: str, at: OpCall) -> int:
    attrs = {"channels": _channels(at.shape_in), "eps": at.a["eps"]}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _class_token(el: OpLayer, op: str, at: OpCall) -> int:
    return el._add(op, {"dim": at.shape_in[-1]}, [at.x], at.scope(op), at.span)


def _pos_embedding(el: OpLayer, op: str, at: OpCall) -> int:
    shape = at.shape_in
    attrs = {"length": shape[0], "dim": shape[-1], "std": at.a["std"]}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _attention(el: OpLayer, op: str, at: OpCall) -> int:
    attrs = {"dim": at.shape_in[-1], **{k: at.a[k] for k in ("heads", "dropout", "bias")}}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _crop(el: OpLayer, op: str, at: OpCall) -> int:
    """The crop node: its `size`, and the `offset` of the centred window in the input (from the
    input's H×W, as conv's in_channels is from its C); a tensor that is no image gets (0, 0),
    which the shape rule refuses with its own error."""
    size = at.a["size"]
    image = len(at.shape_in) == 3
    attrs = {"size": size, "offset": crop_offset(at.shape_in, size) if image else (0, 0)}
    return el._add(op, attrs, [at.x], at.scope(op), at.span)


def _padding(value: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    if value == "same":
        return ((kernel[0] - 1) // 2 * dilation[0], (kernel[1] - 1) // 2 * dilation[1])
    if value == "valid":
        return (0, 0)
    return value


#: Surface op (canonical name) -> its lowering.
LOWERINGS: dict[str, Lowering] = {
    "conv": _conv,
    "linear": _linear,
    "maxpool": _pool,
    "avgpool": _pool,
    "adaptive_avgpool": _plain("size"),
    "batchnorm": _batchnorm,
    "lrn": _plain("size", "alpha", "beta", "k"),
    **{act: _plain(*SIGNATURES[act].arg_names) for act in ACTIVATIONS},
    "identity": _identity,
    "softmax": _plain("dim"),
    "dropout": _plain("p"),
    "flatten": _plain(),
    "scale": _plain("s"),
    "channel_shuffle": _plain("groups"),
    "layer_scale": _layer_scale,
    "groupnorm": _groupnorm,
    "stochastic_depth": _plain("p", "mode"),
    "upsample": _plain("scale", "size", "mode", "align_corners"),
    "crop": _crop,
    "conv_transpose": _conv_transpose,
    "layernorm": _layernorm,
    "slice": _plain("start", "end"),
    "tokens": _plain(),
    "class_token": _class_token,
    "pos_embedding": _pos_embedding,
    "attention": _attention,
    "select": _plain("index"),
}
