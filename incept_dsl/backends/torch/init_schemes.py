"""Weight initialisation of the generated PyTorch module: the named schemes and the body of its
`reset_parameters` (`init_lines`).

The default, `fan_in`, makes every bundled model start trainable: on random normal input its
initial logits have a standard deviation of order 1 (0.05 to 3; see
tests/backends/test_torch_init.py) in eval and in training mode, so the cross-entropy starts near
log(classes). It is torchvision's ResNet/VGG scheme (Kaiming-normal convs with the ReLU gain,
N(0, 0.01) linears, BN 1/0) with these changes, each needed by some bundled family:

- the conv's std is sqrt(2 / fan_in), He et al. 2015's rule for the forward pass (each conv and
  ReLU keeps the second moment of its input), not sqrt(2 / fan_out): a 1x1 reduction such as an
  Inception module's 832 -> 128 has fan_out far below fan_in, and fan_out then multiplies the
  signal's variance by fan_in / fan_out at every module (GoogLeNet's logits start with a std of
  31, Inception-v4's of 6,500). Where fan_in == fan_out (most of VGG and ResNet) the two agree.
- a conv that scores the classes with no activation after it (the per-pixel classifier of a
  dense-prediction network, `scoring_convs`) starts as the linear classifier does, N(0, 0.01):
  the ReLU gain would overshoot there, and U-Net's logits would start with a std of 3.3 to 3.6.
- each squeeze-and-excitation gate starts open (the conv before its hardsigmoid or sigmoid has bias
  3, `open_gates`), so a gated block starts as the identity on its input, as a residual block does
  below: without it every gate halves the signal and MobileNetV3-Small starts with a logit std of
  0.0008.
- the last layer of each residual branch starts with weight 0 (its batch norm's, else its conv's
  or linear's), so each residual block starts as the identity (Goyal et al. 2017, "Accurate,
  Large Minibatch SGD", section 5.1; torchvision's `zero_init_residual=True`, timm's default
  `zero_init_last`; Fixup, Zhang et al. 2019, for branches without batch norm). Without it the
  variance of a ResNet doubles or more at every block while batch norm does not normalise (eval
  mode, whose running statistics start at 0/1): ResNet-152's logits start with a std of 10^7 to
  10^9, and even the scaled branches of Inception-ResNet-v2 reach a std of 2 to 3.5.

The other schemes are kept as they were, for checkpoints and comparisons: `kaiming` (torchvision's
ResNet/VGG), `trunc_normal` (torchvision's GoogLeNet/Inception) and `torch` (PyTorch's layer
defaults, torchvision's AlexNet). `init_numpy` mirrors those three in numpy.
"""

from __future__ import annotations

import networkx as nx

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS

#: The ops whose zero `weight` (biases start at 0) gives zero: the weighted ops with a `weight`,
#: and attention, whose out-projection's weight is zeroed (`zeroed_module`).
_ZEROABLE = tuple(op for op, spec in OPS.items() if "weight" in spec.tensors) + ("attention",)

#: Weight initialisation schemes (`init=` of `to_torch`, `--init` of the CLI): name -> what it
#: does, as the generated class's docstring states it.
INIT_SCHEMES: dict[str, str] = {
    "fan_in": (
        "conv: Kaiming-normal (fan_in, ReLU); linear: N(0, 0.01); biases 0; BN 1/0; the last "
        "layer of each residual branch 0 (the default: initial logits of order 1)"
    ),
    "kaiming": (
        "conv: Kaiming-normal (fan_out, ReLU); linear: N(0, 0.01); biases 0; BN 1/0 "
        "(torchvision's ResNet/VGG scheme)"
    ),
    "trunc_normal": (
        "conv and linear: truncated normal std 0.01 in [-2, 2]; biases 0; BN 1/0 "
        "(torchvision's GoogLeNet scheme)"
    ),
    "torch": "PyTorch's own layer defaults (Kaiming-uniform, a = sqrt(5))",
}
DEFAULT_INIT = "fan_in"

#: Ops between a residual branch's last layer and the add that keep a zero tensor zero.
_THROUGH = ("scale", "dropout", "stochastic_depth")


def _branch_end(graph: Graph, n: int, heads: set[int]) -> int | None:
    """The batch norm, conv or linear that ends the add operand `n` (through `_THROUGH` ops, and
    through a squeeze-and-excitation `mul` to the tensor it gates, as timm's `zero_init_last`
    zeroes the batch norm before the SE block), or None when the operand does not end in one whose
    tensor only the add reads: each node on the way has one reader (the gated tensor: the `mul`
    and its gate branch) and is no head (a zeroed layer must change nothing but the add's input)."""

    def private(k: int, readers: set[int] | None = None) -> bool:
        users = {u for u, _ in graph.users(k)}
        ok = len(users) == 1 if readers is None else users <= readers
        return ok and k not in heads

    readers: set[int] | None = None
    while private(n, readers):
        if graph.op(n) in _THROUGH:
            (n,), readers = graph.inputs(n), None
        elif (gated := _gated(graph, n)) is not None:
            readers = {n} | nx.ancestors(graph.nx, n)  # the mul, and its gate branch
            n = gated
        else:
            break
    return n if graph.op(n) in _ZEROABLE and private(n, readers) else None


def _gated(graph: Graph, n: int) -> int | None:
    """The tensor a squeeze-and-excitation `mul` node `n` gates: its one input that is not a
    C×1×1 gate, when every other input is one; None for any other node."""
    if graph.op(n) != "mul" or _is_gate(graph.shape(n)):
        return None
    full = [i for i in graph.inputs(n) if not _is_gate(graph.shape(i))]
    return full[0] if len(full) == 1 and len(graph.inputs(n)) > 1 else None


def zeroed_module(graph: Graph, n: int) -> str:
    """The submodule of node `n` whose `weight` `fan_in` zeroes: the node's own, or the
    out-projection (`<scope>.out_proj`) of an attention."""
    return graph.scope(n) + (".out_proj" if graph.op(n) == "attention" else "")


def _left_alone(graph: Graph, n: int, heads: set[int]) -> bool:
    """Whether the add operand `n` makes its add no residual block to zero: a squeeze-and-
    excitation `mul` whose gated tensor ends in no layer to zero (a gated branch, not the identity
    shortcut, though no layer ends it), or an operand that ends, through `_THROUGH` ops, in a
    `layer_scale` (the branch already starts near zero: its multiplier holds `init`)."""
    if _gated(graph, n) is not None and _branch_end(graph, n, heads) is None:
        return True
    while graph.op(n) in _THROUGH:
        (n,) = graph.inputs(n)
    return graph.op(n) == "layer_scale"


def _chain_convs(graph: Graph, n: int) -> int:
    """The convs on the straight chain that ends at `n`: back through single-input nodes that only
    the chain reads, up to where the branches part. Each node is visited at most once per add
    operand, and the chains of different operands do not overlap, so the work is linear."""
    convs = 0
    while True:
        gated = _gated(graph, n)
        n = n if gated is None else gated  # through a squeeze-and-excitation gate to what it gates
        if graph.op(n) == "conv":
            convs += 1
        ins = graph.inputs(n)
        if len(ins) != 1 or len(graph.users(ins[0])) != 1:
            return convs
        n = ins[0]


def residual_branch_ends(graph: Graph) -> list[str]:
    """The modules of the layers that end a residual branch, in graph order: the ones whose weight
    `fan_in` zeroes, so that each residual block starts as the identity (`zeroed_module`: the
    layer's scope, or its out-projection's for an attention).

    An operand of an `add` is a residual branch when it ends in a batch norm, conv or linear that
    only it reads (through `scale` or `dropout`: Inception-ResNet's scaled branches) and another
    operand is shallower: one that does not end in such a layer (the identity shortcut of
    `residual { ... }`), or one with fewer convs on its own chain (the projection shortcut of
    `add { main: ...; shortcut: conv(...) }`). Operands of equal depth (parallel branches) are
    left alone, and so is an add with an operand that ends in a `layer_scale` (its branch starts
    near zero already). A branch that ends in squeeze-and-excitation gating (a `mul` of the
    branch's tensor by a C×1×1 gate) ends where the gated tensor does, as timm's `zero_init_last`
    zeroes SE-ResNet's last batch norm; when no layer to zero ends the gated tensor (an
    activation does), its add is left alone. The work is linear in the graph's size.
    """
    out: list[int] = []
    heads = {h.node for h in graph.heads}
    for a in graph.order():
        if graph.op(a) != "add" or len(graph.inputs(a)) < 2:
            continue
        operands = graph.inputs(a)
        if any(_left_alone(graph, i, heads) for i in operands):
            continue
        ends = [_branch_end(graph, i, heads) for i in operands]
        if all(b is None for b in ends):
            continue
        if any(b is None for b in ends):
            out += [b for b in ends if b is not None]
            continue
        depth = [_chain_convs(graph, i) for i in operands]
        out += [b for b, d in zip(ends, depth, strict=True) if b is not None and d > min(depth)]
    return [zeroed_module(graph, b) for b in dict.fromkeys(out)]


#: The activations that end a squeeze-and-excitation gate, and the bias of the conv before them that
#: opens the gate: hardsigmoid(3) = 1, sigmoid(3) = 0.95.
_GATES = ("hardsigmoid", "sigmoid")
GATE_BIAS = 3.0


def _is_gate(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[1:] == (1, 1)


def open_gates(graph: Graph) -> list[str]:
    """The convs, in graph order, whose bias `fan_in` sets to `GATE_BIAS` so that each
    squeeze-and-excitation gate starts open (near 1) and its block starts as the identity on its
    input (as a zeroed residual branch does): the biased conv before the hardsigmoid or sigmoid
    that ends a C×1×1 operand of a `mul` over a larger tensor, read by nothing else."""
    out: list[int] = []
    for n in graph.order():
        if graph.op(n) != "mul" or _is_gate(graph.shape(n)):
            continue
        for k in graph.inputs(n):
            if not _is_gate(graph.shape(k)) or graph.op(k) not in _GATES:
                continue
            (conv,) = graph.inputs(k)
            if (
                graph.op(conv) == "conv"
                and graph.attrs(conv)["bias"]
                and len(graph.users(conv)) == 1
            ):
                out.append(conv)
    return [graph.scope(c) for c in dict.fromkeys(out)]


#: Weightless ops without an activation between a scoring conv and its head.
_TO_HEAD = ("upsample", "crop", "dropout", "flatten", "avgpool", "adaptive_avgpool")


def scoring_convs(graph: Graph) -> list[str]:
    """The convs, in graph order, that `fan_in` initialises as it does a classifier's linear,
    N(0, 0.01): each conv whose output reaches a model output or aux head through only the
    weightless, activation-free ops of `_TO_HEAD`, each read by nothing else (a dense-prediction
    network's per-pixel classifier: U-Net's final 1x1 conv, FCN's and DeepLabV3's scoring convs).
    The ReLU gain of the other convs would overshoot there, where no ReLU follows: U-Net's
    logits would start with a std of 3.3 to 3.6."""
    out: list[int] = []
    for h in graph.heads:
        n = h.node
        while graph.op(n) in _TO_HEAD and len(graph.inputs(n)) == 1:
            (n,) = graph.inputs(n)
            if len(graph.users(n)) != 1:
                break
        else:
            if graph.op(n) == "conv":
                out.append(n)
    return [graph.scope(c) for c in dict.fromkeys(out)]


def _each(scopes: list[str], statement: str, *comment: str) -> list[str]:
    """Lines that run `statement` for each submodule `name` in `scopes` (none when empty)."""
    if not scopes:
        return []
    return [
        *(f"# {c}" for c in comment),
        "for name in (",
        *(f"    {s!r}," for s in scopes),
        "):",
        f"    {statement}",
    ]


def init_lines(scheme: str, graph: Graph | None = None) -> list[str]:
    """The body of the generated `reset_parameters` for `scheme` (see `INIT_SCHEMES`): statements
    over `self.modules()` and, for `fan_in` with `graph` given, over the residual branches' last
    layers (`residual_branch_ends`), the scoring convs (`scoring_convs`) and the gates' convs
    (`open_gates`), named by `repr` of their scopes, found with `self.get_submodule`.

    Raises ValueError for a scheme that is not in `INIT_SCHEMES`.
    """
    if scheme == "torch":
        return ["pass  # PyTorch's own layer initialisation"]
    if scheme == "kaiming":
        conv = 'nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")'
        lin = "nn.init.normal_(m.weight, 0.0, 0.01)"
    elif scheme == "fan_in":
        conv = 'nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")'
        lin = "nn.init.normal_(m.weight, 0.0, 0.01)"
    elif scheme == "trunc_normal":
        conv = lin = "nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2.0, b=2.0)"
    else:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
    transposed = graph is not None and any(graph.op(n) == "conv_transpose" for n in graph.order())
    convs = "(nn.Conv2d, nn.ConvTranspose2d)" if transposed else "nn.Conv2d"
    lines = [
        "for m in self.modules():",
        f"    if isinstance(m, {convs}):",
        f"        {conv}",
        "        if m.bias is not None:",
        "            nn.init.zeros_(m.bias)",
        "    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):",
        "        nn.init.ones_(m.weight)",
        "        nn.init.zeros_(m.bias)",
        "    elif isinstance(m, nn.Linear):",
        f"        {lin}",
        "        if m.bias is not None:",
        "            nn.init.zeros_(m.bias)",
    ]
    if scheme != "fan_in" or graph is None:
        return lines
    lines += _each(
        residual_branch_ends(graph),
        "nn.init.zeros_(self.get_submodule(name).weight)",
        "each residual branch ends in a layer of weight 0: every residual block starts as",
        "the identity (Goyal et al. 2017; torchvision's zero_init_residual)",
    )
    lines += _each(
        scoring_convs(graph),
        lin.replace("m.weight", "self.get_submodule(name).weight"),
        "each conv that scores the classes directly (no activation follows) starts as a",
        "classifier's linear does",
    )
    lines += _each(
        open_gates(graph),
        f"nn.init.constant_(self.get_submodule(name).bias, {GATE_BIAS!r})",
        "each squeeze-and-excitation gate starts open (its sigmoid near 1): the gated block",
        "starts as the identity on its input",
    )
    return lines
