"""Binarization: sign, straight-through estimator, IR-Net weights, binary layers, XNOR-popcount.

A binary layer computes (Eq. 2, bias inside the scale as printed)

    z = (sign(W) (*) sign(x) + b) * alpha

with alpha a learnable vector of one scale per output channel (Sec. III-A). The weights are
real-valued *latent* parameters; the forward pass standardises them per output channel and
takes the sign (IR-Net, Eq. 12-16), and the backward pass uses the straight-through estimator.

The scale is applied in a separate step (``BinaryConv2d.apply_scale``), so a
Scale-Dropout module attached as ``layer.scale_dropout`` can replace alpha in each pass.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaledrop_lib._checks import check_choice, check_positive_int

WEIGHT_AXES = ("out_channel", "kernel")
ACTIVATIONS = ("sign", "tanh", "identity")


def sign_pm1(x: torch.Tensor) -> torch.Tensor:
    """Sign with sign(0) = +1 (Eq. 16): values exactly in {-1, +1}.

    ``torch.sign(0) = 0`` would break the exact XNOR-popcount equivalence.
    """
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class SignSTE(torch.autograd.Function):
    """sign in the forward pass; straight-through estimator ``grad * 1{|x| <= 1}`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        # the identity's gradient, clipped where |x| > 1 (Courbariaux et al. 2016)
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


def binarize_ste(x: torch.Tensor) -> torch.Tensor:
    """±1 values of ``x`` with a straight-through gradient (see :class:`SignSTE`)."""
    return SignSTE.apply(x)


def _group_dims(w: torch.Tensor, axes: str) -> tuple[int, ...]:
    check_choice("axes", axes, WEIGHT_AXES)
    if w.dim() == 2:  # Linear (Cout, Cin): both choices standardise each output row over Cin
        return (1,)
    if w.dim() != 4:
        raise ValueError(f"w must be a 2-D (linear) or 4-D (conv) weight, got {tuple(w.shape)}")
    # out_channel: IR-Net, over Cin x kH x kW; kernel: Eq. 12 as printed, over kH x kW only
    return (1, 2, 3) if axes == "out_channel" else (2, 3)


def standardize_weights(
    w: torch.Tensor, axes: str = "out_channel", eps: float = 1e-5
) -> torch.Tensor:
    """Channel-wise standardisation of latent weights (Eq. 12-15).

    Parameters
    ----------
    w : torch.Tensor
        Conv weights (Cout, Cin, kH, kW) or linear weights (Cout, Cin).
    axes : {"out_channel", "kernel"}
        Groups over which mean and std are taken: ``"out_channel"`` (IR-Net; Cin*kH*kW per
        output channel) or ``"kernel"`` (Eq. 12 as printed: kH*kW per (Cout, Cin) pair).
        Linear weights are standardised per output row over Cin either way.
    eps : float
        Added to the variance, so a constant group does not divide by zero.

    Notes
    -----
    Eq. 14 as printed subtracts a tensor from a scalar; we use the intended population
    variance mean(W^2) - mean(W)^2 of each group.
    """
    dims = _group_dims(w, axes)
    if not eps >= 0:  # a negative eps can make the variance negative: NaN weights
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    mean = w.mean(dim=dims, keepdim=True)  # Eq. 12
    centred = w - mean  # Eq. 13
    var = (w * w).mean(dim=dims, keepdim=True) - mean * mean  # Eq. 14 (as intended)
    return centred / torch.sqrt(var.clamp_min(0) + eps)  # Eq. 15


def irnet_binarize(w: torch.Tensor, axes: str = "out_channel") -> torch.Tensor:
    """IR-Net binary weights (Eq. 16): sign of the standardised weights, STE gradient."""
    return binarize_ste(standardize_weights(w, axes))


def weight_entropy(binary_w: torch.Tensor) -> float:
    """Entropy in bits of the +1 fraction of a ±1 tensor (1 bit = balanced, 0 = constant).

    IR-Net's argument: balanced binary weights carry the most information.
    """
    values = torch.as_tensor(binary_w)
    if values.numel() == 0:
        raise ValueError("binary_w must not be empty")
    q = float((values > 0).float().mean())
    if q in (0.0, 1.0):
        return 0.0
    return -(q * math.log2(q) + (1 - q) * math.log2(1 - q))


def channel_entropies(binary_w: torch.Tensor) -> list[float]:
    """:func:`weight_entropy` of each output channel (dim 0) of a ±1 weight tensor."""
    if binary_w.dim() < 2:
        raise ValueError(f"binary_w must have an output-channel dimension, got {binary_w.dim()}-D")
    return [weight_entropy(channel) for channel in binary_w]


class SignActivation(nn.Module):
    """Binary activation: sign with the straight-through gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binarize_ste(x)


class TanhActivation(nn.Module):
    """tanh, the paper's example activation (Eq. 4)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


def make_activation(name: str) -> nn.Module:
    """``"sign"``, ``"tanh"`` or ``"identity"``."""
    check_choice("activation", name, ACTIVATIONS)
    return {"sign": SignActivation, "tanh": TanhActivation, "identity": nn.Identity}[name]()


#: A quantizer maps real values to their quantized ones (with a straight-through gradient), as
#: ``binarize_ste`` does for inputs and ``irnet_binarize`` for weights (larq's idea).
Quantizer = Callable[[torch.Tensor], torch.Tensor]


class _ScaledBinaryMixin:
    """Shared by the binary layers: quantizers, scale vector, Scale-Dropout, scale application."""

    alpha: nn.Parameter
    scale_dropout: nn.Module | None
    scale_enabled: bool
    input_quantizer: Quantizer | None
    kernel_quantizer: Quantizer

    def _init_binary(
        self,
        channels: int,
        input_quantizer: Quantizer | None,
        kernel_quantizer: Quantizer | None,
        weight_axes: str,
        scale_dropout: nn.Module | None,
    ) -> None:
        if input_quantizer is not None and not callable(input_quantizer):
            raise TypeError("input_quantizer must be a function of a tensor, or None")
        if kernel_quantizer is not None and not callable(kernel_quantizer):
            raise TypeError("kernel_quantizer must be a function of a tensor, or None")
        if scale_dropout is not None and not isinstance(scale_dropout, nn.Module):
            kind = type(scale_dropout).__name__
            raise TypeError(f"scale_dropout must be a torch.nn.Module or None, got {kind}")
        self.weight_axes = check_choice("weight_axes", weight_axes, WEIGHT_AXES)
        self.input_quantizer = input_quantizer
        # default: IR-Net's standardise-and-balance, then sign (Eq. 12-16)
        self.kernel_quantizer = kernel_quantizer or functools.partial(
            irnet_binarize, axes=self.weight_axes
        )
        self.alpha = nn.Parameter(torch.ones(channels))
        self.scale_dropout = scale_dropout
        self.scale_enabled = True

    @property
    def binarize_input(self) -> bool:
        """Whether the layer quantizes its input (``False``: inputs are used as they come)."""
        return self.input_quantizer is not None

    def binary_weight(self) -> torch.Tensor:
        """The quantized (by default ±1, IR-Net) weights used in the forward pass."""
        return self.kernel_quantizer(self.weight)

    def _quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_quantizer is None else self.input_quantizer(x)

    def effective_alpha(self) -> torch.Tensor:
        """alpha for this forward pass: after Scale-Dropout when a module is attached."""
        if self.scale_dropout is None:
            return self.alpha
        return self.scale_dropout(self.alpha)

    @staticmethod
    def apply_scale(z: torch.Tensor, alpha: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Multiply each output channel (dim 1) of ``z`` by its entry of ``alpha`` (Eq. 2).

        ``inplace=True`` overwrites ``z`` (same values; for inference, where ``z`` is a fresh
        tensor nobody else holds and no gradient is needed).
        """
        if alpha.dim() != 1 or alpha.shape[0] != z.shape[1]:
            raise ValueError(
                f"alpha must have one entry per channel ({z.shape[1]}), got {tuple(alpha.shape)}"
            )
        view = alpha.view(1, -1, *([1] * (z.dim() - 2)))
        return z.mul_(view) if inplace else z * view


class BinaryConv2d(_ScaledBinaryMixin, nn.Module):
    """Binary 2-D convolution with a learnable per-channel scale (Eq. 2).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding : int
        As for :class:`torch.nn.Conv2d` (square kernels).
    bias : bool
        A bias added before the scale, as Eq. 2 prints it.
    input_quantizer : callable or None
        Applied to the input: :func:`binarize_ste` (sign with the straight-through estimator,
        the default), another quantizer, or ``None`` for a first layer on real inputs or
        inputs that are already ±1/0 (e.g. after SpinDrop-style dropout).
    kernel_quantizer : callable, optional
        Applied to the latent real weights; default IR-Net (:func:`irnet_binarize`) with
        ``weight_axes``.
    weight_axes : {"out_channel", "kernel"}
        Standardisation groups of the default kernel quantizer (see
        :func:`standardize_weights`).
    scale_dropout : nn.Module, optional
        Applied to the scale vector in each forward pass (a
        :class:`~scaledrop_lib.layers.dropout.ScaleDropout`; Eq. 5-7).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        *,
        input_quantizer: Quantizer | None = binarize_ste,
        kernel_quantizer: Quantizer | None = None,
        weight_axes: str = "out_channel",
        scale_dropout: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride = check_positive_int("stride", stride)
        self.padding = check_positive_int("padding", padding, minimum=0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's initialisation
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._init_binary(
            out_channels, input_quantizer, kernel_quantizer, weight_axes, scale_dropout
        )

    def binary_output(self, x: torch.Tensor) -> torch.Tensor:
        """sign(W) (*) sign(x) + b, before the scale."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        inputs = self._quantized_input(x)
        return F.conv2d(inputs, self.binary_weight(), self.bias, self.stride, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.binary_output(x)
        return self.apply_scale(z, self.effective_alpha()) if self.scale_enabled else z

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, "
            f"binarize_input={self.binarize_input}"
        )


class BinaryLinear(_ScaledBinaryMixin, nn.Module):
    """Binary fully connected layer with a learnable per-neuron scale (Eq. 2).

    The keyword arguments are those of :class:`BinaryConv2d`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        input_quantizer: Quantizer | None = binarize_ste,
        kernel_quantizer: Quantizer | None = None,
        weight_axes: str = "out_channel",
        scale_dropout: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self._init_binary(
            out_features, input_quantizer, kernel_quantizer, weight_axes, scale_dropout
        )

    def binary_output(self, x: torch.Tensor) -> torch.Tensor:
        """sign(W) sign(x) + b, before the scale."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}")
        inputs = self._quantized_input(x)
        return F.linear(inputs, self.binary_weight(), self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.binary_output(x)
        return self.apply_scale(z, self.effective_alpha()) if self.scale_enabled else z

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
            f"binarize_input={self.binarize_input}"
        )


# ------------------------------------------------------------ XNOR-popcount (Table I)

WORD_BITS = 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack booleans (..., n) into 64-bit words (..., ceil(n/64)): bit i of a vector is bit
    i % 64 of word i // 64 (True -> 1); the padding bits of the last word are 0.

    The one bit layout of the library: :func:`pack_pm1` here and the numba kernels of
    :mod:`scaledrop_lib.inference.xnor` (which fall back to this function) use it.
    """
    bits = np.asarray(bits, dtype=bool)
    pad = (-bits.shape[-1]) % WORD_BITS
    if pad:
        bits = np.concatenate([bits, np.zeros((*bits.shape[:-1], pad), bool)], axis=-1)
    # little-endian bytes -> uint64 words
    packed = np.packbits(bits, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def pack_pm1(v: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pack ±1 vectors (..., n) into 64-bit words (..., ceil(n/64)): +1 -> bit 1, -1 -> bit 0.

    Padding bits of the last word are 0 (see :func:`pack_bits`).
    """
    arr = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError("v must have a non-empty last dimension")
    if not np.all((arr == 1) | (arr == -1)):
        raise ValueError("v must hold only +1 and -1")
    return pack_bits(arr > 0)


def popcount_words(words: np.ndarray) -> np.ndarray:
    """Set bits of every uint64 word (same shape, int64)."""
    if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        return np.bitwise_count(words).astype(np.int64)
    per_byte = np.unpackbits(words.view(np.uint8), axis=-1)
    return per_byte.reshape(*words.shape, 64).sum(-1, dtype=np.int64)


def xnor_popcount_dot(a_bits: np.ndarray, b_bits: np.ndarray, n: int) -> np.ndarray:
    """Dot products of packed ±1 vectors: 2 * popcount(XNOR(a, b)) - n (Table I).

    ``a_bits`` and ``b_bits`` come from :func:`pack_pm1` and broadcast against each other;
    ``n`` is the unpacked length (padding bits are masked off).
    """
    n = check_positive_int("n", n)
    words = -(-n // WORD_BITS)
    if a_bits.shape[-1] != words or b_bits.shape[-1] != words:
        raise ValueError(
            f"n = {n} needs {words} words per vector, got {a_bits.shape[-1]} and {b_bits.shape[-1]}"
        )
    xnor = ~(a_bits ^ b_bits)
    tail = n % WORD_BITS
    if tail:  # padding bits agree (both 0), so XNOR sets them: mask them off
        mask = np.full(words, np.iinfo(np.uint64).max, dtype=np.uint64)
        mask[-1] = np.uint64((1 << tail) - 1)
        xnor = xnor & mask
    matches = popcount_words(xnor).sum(-1)
    return 2 * matches - n


def xnor_popcount_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for ±1 matrices (M, n) and (n, K), computed with XNOR and popcount only."""
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"a and b must be 2-D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    n = a.shape[1]
    a_bits = pack_pm1(a)[:, None, :]  # (M, 1, words)
    b_bits = pack_pm1(b.T)[None, :, :]  # (1, K, words)
    return torch.from_numpy(xnor_popcount_dot(a_bits, b_bits, n))


def xnor_conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """A ±1 convolution without padding, computed only with XNOR and popcount.

    Each output is the XNOR-popcount dot product of a flattened weight kernel with the input
    patch it covers (im2col), so ``xnor_conv2d(x, w)`` equals ``F.conv2d(x, w, stride=stride)``
    exactly for ±1 tensors. (Zero padding has no ±1 encoding, hence no ``padding``.)

    Parameters
    ----------
    x : torch.Tensor
        ±1 input (N, Cin, H, W).
    w : torch.Tensor
        ±1 weights (Cout, Cin, k, k).
    """
    if x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x (N, Cin, H, W) and w (Cout, Cin, k, k) must agree on Cin, got "
            f"{tuple(x.shape)} and {tuple(w.shape)}"
        )
    stride = check_positive_int("stride", stride)
    n, _, h, width = x.shape
    k = w.shape[-1]
    patches = F.unfold(x, k, stride=stride)  # (N, Cin*k*k, L)
    columns = patches.transpose(1, 2).reshape(-1, patches.shape[1])  # (N*L, Cin*k*k)
    out = xnor_popcount_matmul(columns, w.reshape(w.shape[0], -1).T)  # (N*L, Cout)
    h_out, w_out = (h - k) // stride + 1, (width - k) // stride + 1
    return out.reshape(n, h_out, w_out, w.shape[0]).permute(0, 3, 1, 2)
