"""The PyTorch backend's kernel choices at -O2: what the generated module (`codegen`) holds for the annotations of the
`channels-last` and `select-kernels` passes. A graph without them (-O0, -O1) is untouched.

- ``meta["kernel"] == "onednn"`` on a conv: the module is a `FusedConv2d` (source below, emitted
  into the generated file, which still imports only torch): an `nn.Conv2d` with the same parameters
  and state_dict that, on the CPU without autograd, runs oneDNN's fused convolution
  (``torch.ops.mkldnn._convolution_pointwise``, the kernel `torch.compile` uses on CPU) on weights
  packed once and repacked when they change, with its activation ``meta["fused_act"]`` fused. In
  bfloat16 that kernel needs AVX-512 BW/VL/DQ or AVX-NE-CONVERT: the generated file probes for it
  once at import (as `cpu_features.onednn_bf16_conv` does) and, where it is missing, runs the
  float32 kernel on bfloat16 tensors (rounding the result to bfloat16), so the same source runs
  on every x86-64 CPU. On a CPU whose PyTorch kernels are AVX2 (`get_cpu_capability()`), a small
  float32 conv (stride 1, at most `_SMALL_CONV_MACS` multiply-adds a call) runs PyTorch's GEMM
  instead, whose cost has no fixed part of 60-120 us (README, "Small convs run PyTorch's GEMM"),
  and a 3x3 float32 conv of stride 1 with enough channels and a mid-sized output (64-1,024 tiles
  of 4x4 a call) runs as Winograd's F(4x4, 3x3) in PyTorch ops (README, "Winograd on AVX2").
- ``meta["fused_add"]`` on a conv: it is called with that node's tensor, which it adds before
  its activation.
- ``meta["fused_into"]`` on an add or an activation: it costs nothing (its conv applied it).
- ``meta["inplace"]`` on an activation: it runs in place.
- ``graph.data["memory_format"] == "channels_last"``: image inputs and 4-D parameters are converted
  to channels-last.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph

FUSED_CONV = "FusedConv2d"

FUSED_CONV_SOURCE = '''
def _onednn_available() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))
    except (AttributeError, RuntimeError):
        return False


def _onednn_bf16_available() -> bool:
    """Whether oneDNN's bfloat16 convolution runs on this CPU (it needs AVX-512 BW/VL/DQ or
    AVX-NE-CONVERT): tried once, at import, on a 1x1x1x1 tensor."""
    try:
        args = ([0, 0], [1, 1], [1, 1], 1)
        x = torch.zeros(1, 1, 1, 1, dtype=torch.bfloat16)
        w = torch.ops.mkldnn._reorder_convolution_weight(x, *args, [1, 1, 1, 1])
        torch.ops.mkldnn._convolution_pointwise(x, w, None, *args, "none", [], "")
    except (AttributeError, RuntimeError):
        return False
    return True


_ONEDNN = _onednn_available()
_ONEDNN_BF16 = _ONEDNN and _onednn_bf16_available()  # else bfloat16 convs compute in float32
_PACKED_SHAPES = 4  # input shapes (batch sizes) a conv keeps packed weights for
_ACTIVATIONS = {"none": lambda x: x, "relu": torch.relu, "sigmoid": torch.sigmoid,
                "tanh": torch.tanh}
_IN_PLACE = {"none": lambda x: x, "relu": torch.relu_, "sigmoid": torch.sigmoid_,
             "tanh": torch.tanh_}
# On an AVX2-only CPU oneDNN's op costs 60-120 us a call however small the conv: a float32 conv of
# stride 1 and at most this many multiply-adds a call runs as PyTorch's GEMM instead (a 1x1 conv
# as one addmm on the channels-last input, others as PyTorch's im2col conv), 1.2-1.9x faster on
# such convs (bench/conv_kernels.py). Elsewhere (AVX-512) it was not measured: 0, no such conv.
_CAPABILITY = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")
_SMALL_CONV_MACS = 10_000_000 if _CAPABILITY() == "AVX2" else 0
# There too, a 3x3 float32 conv of stride 1 and padding 1 with in x out channels >= 12,288 whose
# output is 64-1,024 tiles of 4x4 a call (batch included) runs as Winograd's F(4x4, 3x3): 36
# products per tile instead of 144, 1.1-1.6x faster than oneDNN's op on such convs
# (bench/winograd.py); with fewer tiles the GEMMs are too small, with more the transforms are
# memory-bound. Elsewhere (AVX-512) it was not measured: (0, 0), no such conv.
_WINOGRAD_TILES = (64, 1024) if _CAPABILITY() == "AVX2" else (0, 0)
_WINOGRAD_CHANNELS = 12_288
_WINOGRAD_BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                             [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
                            dtype=torch.float32)
_WINOGRAD_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                            [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
                           dtype=torch.float64)
_WINOGRAD_AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                             [0, 1, -1, 8, -8, 1]], dtype=torch.float32)


class FusedConv2d(nn.Conv2d):
    """nn.Conv2d followed by the activation `act` (same parameters and state_dict as nn.Conv2d),
    optionally adding a tensor (a residual) before the activation.

    On the CPU (float32 or bfloat16) without autograd it runs oneDNN's fused convolution on
    weights packed once per input shape (for the 4 shapes, batch sizes included, used last) and
    repacked when they change (weights that are inference tensors, made under
    torch.inference_mode, carry no version counter: only a new weight tensor repacks them);
    otherwise, and on a single pixel (batch 1, 1×1), nn.Conv2d and `act`. On an AVX2-only CPU
    a small float32 conv (stride 1, at most 10M multiply-adds a call) runs PyTorch's GEMM instead
    of oneDNN's op, and a 3x3 one of stride 1 with in x out channels >= 12,288 and 64-1,024
    output tiles of 4x4 runs as Winograd's F(4x4, 3x3). A bfloat16 call on a CPU without
    oneDNN's bfloat16 kernels (AVX2 only) runs the float32 kernel and rounds its result to
    bfloat16.
    """

    def __init__(self, *args, act: str = "none", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.act = act
        self._packed: tuple = (None, None)
        self._winograd_weights: tuple = (None, None)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_packed"] = (None, None)  # caches of the weights: rebuilt on the next call
        state["_winograd_weights"] = (None, None)
        return state

    def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """act(conv(x)), or act(conv(x) + add) when `add` is given."""
        w = self.weight
        if (not _ONEDNN or torch.compiler.is_compiling()  # traced: the compiler picks kernels
                or x.device.type != "cpu" or x.dtype != w.dtype
                or x.dtype not in (torch.float32, torch.bfloat16)
                or (add is not None and add.dtype != x.dtype)
                or (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad
                                                 or (add is not None and add.requires_grad)))):
            return self._module(x, add)
        return self._kernel(x)(x, add)

    def _kernel(self, x: torch.Tensor):
        """The kernel for an inference call on x (float32 or bfloat16, on the CPU)."""
        # one pixel (a squeeze-and-excitation gate at batch 1): PyTorch's own conv is a
        # matrix-vector product of 6-14 us; oneDNN's op costs about 40 us however small
        if x.shape[0] * x.shape[-2] * x.shape[-1] == 1:
            return self._module
        if x.dtype == torch.bfloat16 and not _ONEDNN_BF16:
            return self._fused_in_float32
        if self._small(x):
            return self._gemm
        if self._winograd_fits(x):
            return self._winograd
        return self._fused

    def _module(self, x: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
        """nn.Conv2d, the add and the activation, as -O1 runs them."""
        y = super().forward(x)
        return _ACTIVATIONS[self.act](y if add is None else y + add)

    def _fused_in_float32(self, x: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
        """bfloat16 where oneDNN has no bfloat16 conv: the float32 kernel, rounded back."""
        y = self._fused(x.float(), None if add is None else add.float())
        return y.to(torch.bfloat16)

    def _dense(self, x: torch.Tensor) -> bool:
        """float32, stride 1, undilated, ungrouped, zero-padded by numbers: the convs the GEMM
        and Winograd kernels compute."""
        return (x.dtype == torch.float32 and self.stride == (1, 1) and self.dilation == (1, 1)
                and self.groups == 1 and self.padding_mode == "zeros"
                and not isinstance(self.padding, str))

    def _small(self, x: torch.Tensor) -> bool:
        """Whether x's conv is one PyTorch's GEMM runs faster than oneDNN's op (see
        _SMALL_CONV_MACS): dense, and small."""
        kh, kw = self.kernel_size
        return (x.numel() * self.out_channels * kh * kw <= _SMALL_CONV_MACS
                and self._dense(x))

    def _gemm(self, x: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
        """A small conv with PyTorch's GEMM: a 1x1 conv on a channels-last input as one addmm
        (the input and output are views of the same rows), others as PyTorch's im2col conv."""
        w, b = self.weight, self.bias
        n, c, h, wd = x.shape
        if (self.kernel_size == (1, 1) and self.padding == (0, 0)
                and x.is_contiguous(memory_format=torch.channels_last)):
            rows = x.permute(0, 2, 3, 1).reshape(n * h * wd, c)
            w2 = w.reshape(w.shape[0], c).t()
            y = torch.mm(rows, w2) if b is None else torch.addmm(b, rows, w2)
            y = y.view(n, h, wd, w.shape[0]).permute(0, 3, 1, 2)
        else:
            y = torch.ops.aten.thnn_conv2d(x, w, list(self.kernel_size), b, [1, 1],
                                           list(self.padding))
        if add is not None:
            y += add
        return _IN_PLACE[self.act](y)

    def _winograd_fits(self, x: torch.Tensor) -> bool:
        """Whether x's conv runs as Winograd's F(4x4, 3x3) (see _WINOGRAD_TILES)."""
        tiles = x.shape[0] * -(-x.shape[2] // 4) * -(-x.shape[3] // 4)
        return (_WINOGRAD_TILES[0] <= tiles <= _WINOGRAD_TILES[1]  # first: (0, 0) when off
                and self.kernel_size == (3, 3) and self.padding == (1, 1)
                and self.in_channels * self.out_channels >= _WINOGRAD_CHANNELS
                and self._dense(x))

    def _winograd(self, x: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
        """Winograd's F(4x4, 3x3) (Lavin and Gray, 2016) in channels-last memory: each 6x6 input
        tile transformed (B^T d B), 36 GEMMs with the weights transformed once (G g G^T), each
        product transformed back to a 4x4 output tile (A^T m A); then bias, add, activation."""
        n, c, h, w = x.shape
        th, tw = -(-h // 4), -(-w // 4)
        xp = torch.nn.functional.pad(x.permute(0, 2, 3, 1),
                                     (0, 0, 1, 4 * tw + 1 - w, 1, 4 * th + 1 - h))
        sn, sh, sw, _ = xp.stride()
        # each step's result replaces the last: at most 4 x tiles x max(36 (in + out), 60 out)
        # bytes of temporaries at once (the memory table counts none, as for oneDNN's buffers)
        t = xp.as_strided((6, 6, n, th, tw, c), (sh, sw, sn, 4 * sh, 4 * sw, 1)).contiguous()
        del xp
        t = torch.mm(_WINOGRAD_BT, t.view(6, -1))  # rows of B^T d B
        t = torch.matmul(_WINOGRAD_BT, t.view(6, 6, -1))  # columns: [36, tiles x in]
        t = torch.bmm(t.view(36, -1, c), self._winograd_u())  # [36, tiles, out]
        t = torch.mm(_WINOGRAD_AT, t.view(6, -1))  # rows of A^T m A
        t = torch.matmul(_WINOGRAD_AT, t.view(4, 6, -1))  # columns: [16, tiles x out]
        t = t.view(4, 4, n, th, tw, -1).permute(2, 3, 0, 4, 1, 5)
        y = t.reshape(n, 4 * th, 4 * tw, -1)[:, :h, :w].contiguous()
        del t
        if self.bias is not None:
            y += self.bias
        y = y.permute(0, 3, 1, 2)
        if add is not None:
            y += add
        return _IN_PLACE[self.act](y)

    def _winograd_u(self) -> torch.Tensor:
        """G g G^T of the weights g, as 36 [in x out] matrices: computed in float64 once per
        weight tensor and version (as _fused packs)."""
        w = self.weight
        key = self._weight_key()
        if self._winograd_weights[0] != key:
            g = _WINOGRAD_G
            u = torch.einsum("ak,oikl,bl->abio", g, w.detach().double(), g)
            u = u.reshape(36, self.in_channels, self.out_channels).float().contiguous()
            self._winograd_weights = (key, u)
        return self._winograd_weights[1]

    def _weight_key(self) -> tuple:
        """Which weights the caches were made from: the tensor and its version (an inference
        tensor, made under torch.inference_mode, has no version counter: -1)."""
        w = self.weight
        return (w.data_ptr(), -1 if w.is_inference() else w._version)

    def _fused(self, x: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
        """oneDNN's fused kernel in x's dtype, on the weights packed (and cast) for it."""
        w = self.weight
        args = (list(self.padding), list(self.stride), list(self.dilation), self.groups)
        key = (*self._weight_key(), x.dtype)
        if self._packed[0] != key:
            self._packed = (key, {})
        # oneDNN lays the weights out for the whole input shape, batch size included: weights
        # packed for another batch size are reordered on every call (100x slower on some convs)
        packs = self._packed[1]
        packed = packs.pop(x.shape, None)  # put back last: the least recently used comes first
        if packed is None:
            if len(packs) >= _PACKED_SHAPES:
                packs.pop(next(iter(packs)))
            packed = torch.ops.mkldnn._reorder_convolution_weight(w.detach().to(x.dtype), *args,
                                                                  list(x.shape))
        packs[x.shape] = packed
        bias = self.bias
        if bias is not None and bias.dtype != x.dtype:  # .to costs 4 us even when a no-op
            bias = bias.to(x.dtype)
        if add is None:
            return torch.ops.mkldnn._convolution_pointwise(x, packed, bias, *args, self.act, [],
                                                          "")
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, add, packed, bias, *args, "add", None,
            None if self.act == "none" else self.act, [], "")
'''


def uses_fused_conv(graph: Graph) -> bool:
    return any(graph.meta(n).get("kernel") == "onednn" for n in graph.nx)


def channels_last(graph: Graph) -> bool:
    return graph.data.get("memory_format") == "channels_last"


def module_ctor(graph: Graph, n: int, ctor: str) -> str:
    """The constructor text of node `n`'s module: `ctor`, or the kernel the annotations choose."""
    meta = graph.meta(n)
    if meta.get("kernel") == "onednn" and ctor.startswith("nn.Conv2d(") and ctor.endswith(")"):
        return f"{FUSED_CONV}({ctor[len('nn.Conv2d(') : -1]}, act={meta['fused_act']!r})"
    return ctor


def forward_expr(graph: Graph, n: int, ins: list[str], expr: str, var: dict[int, str]) -> str:
    """The forward expression of node `n`: `expr`, or the kernel the annotations choose
    (`var` names every node's tensor)."""
    meta = graph.meta(n)
    if "fused_into" in meta:  # computed by that conv: the same tensor as its input's
        return var[meta["fused_into"]] if graph.op(n) == "add" else ins[0]
    if "fused_add" in meta and expr.endswith(")"):
        return f"{expr[:-1]}, {var[meta['fused_add']]})"
    if meta.get("inplace") and expr.endswith(")"):
        return f"{expr[:-1]}, inplace=True)"
    return expr


def input_lines(graph: Graph, names: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    """Forward's first lines: image inputs to channels-last when the layout asks for it."""
    if not channels_last(graph):
        return []
    return [
        f"{v} = {v}.contiguous(memory_format=torch.channels_last)"
        for v, shape in names
        if len(shape) == 3
    ]


def init_lines(graph: Graph) -> list[str]:
    """__init__'s last lines: 4-D parameters to channels-last when the layout asks for it."""
    return ["self.to(memory_format=torch.channels_last)"] if channels_last(graph) else []
