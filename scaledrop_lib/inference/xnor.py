"""Bit-packed XNOR-popcount inference for the binary layers (numba kernels, optional).

A binary layer's product ``sign(W) (*) sign(x)`` is a sum of ±1 terms. Packed 64 to a
``uint64`` word (bit 1 for +1, bit 0 for -1, the layout of
:func:`scaledrop_lib.layers.binary.pack_pm1`), a dot product of ``n`` terms is

    n - 2 * popcount(a XOR w)

(``XOR`` counts the mismatches; Table I writes the same as ``2 * popcount(XNOR) - n``). This
module packs activations and weights along the channel (feature) axis and runs the
convolution and the matrix product on the packed words, so its integers equal the fp32
path's ±1 sums exactly.

Zero padding is not ±1: a padded tap contributes 0 to ``F.conv2d``. The kernel reads zero
bits there and removes them again: the valid bits of an output position are counted per
position (``n_in_bounds_taps * Cin``), and the zero bits' mismatches with the weights of the
padded taps (precomputed per tap and output channel) are subtracted.

numba is optional (the ``[fast]`` extra): the package imports without it, :func:`pack_signs`
falls back to NumPy, and the products raise ``ImportError`` with the reason
(:func:`xnor_available`). The kernels are compiled on first use and cached on disk
(``cache=True``, next to this file or in numba's user cache). They run in parallel
(``numba.prange``) on as many threads as torch uses (``torch.get_num_threads()``, set on every
call): torch's threads and numba's take turns, never both at once, so neither
oversubscribes the cores.

Bit order: bit ``c % 64`` of word ``c // 64`` is channel ``c``; the padding bits of the last
word are 0 (every function here relies on it and checks packed input for it).
"""

from __future__ import annotations

import functools
import platform
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.inference import _xnor_kernels
from scaledrop_lib.inference._xnor_kernels import (
    conv_kernel,
    linear_kernel,
    max_pool_kernel,
    pack_pool_kernel,
    popcount64,
)
from scaledrop_lib.layers.binary import (
    WORD_BITS,
    BinaryConv2d,
    BinaryLinear,
    binarize_ste,
    pack_bits,
    popcount_words,
)

#: The oldest numba the kernels are written for (the ``[fast]`` extra's lower bound).
NUMBA_MIN_VERSION = (0, 60)
INSTALL_HINT = "install the [fast] extra: pip install 'scaledrop[fast]' (numba>=0.60)"


class PackedSigns(NamedTuple):
    """Signs packed along the channel (feature) axis.

    ``bits`` holds ``uint64`` words, the last axis ``ceil(n / 64)`` long: ``(A, words)`` for a
    2-D input ``(A, n)``, ``(A, H, W, words)`` (channels last) for a 4-D input
    ``(A, n, H, W)``. ``n`` is the number of valid bits per packed vector (the number of
    channels or features).
    """

    bits: np.ndarray
    n: int


def words_for(n: int) -> int:
    """Words of 64 bits needed for ``n`` signs."""
    return -(-check_positive_int("n", n) // WORD_BITS)


# ------------------------------------------------------------------ availability


def _import_numba() -> types.ModuleType:
    """The numba module, or ImportError saying why the packed kernels cannot run."""
    try:
        import numba
    except ImportError as error:
        raise ImportError(f"numba is not installed ({error}); {INSTALL_HINT}") from error
    version = tuple(int(part) for part in numba.__version__.split(".")[:2] if part.isdigit())
    if version < NUMBA_MIN_VERSION:
        raise ImportError(f"numba {numba.__version__} is older than 0.60; {INSTALL_HINT}")
    return numba


def _popcount_flags() -> list[str]:
    """The host CPU's popcount features as LLVM reports them (empty if unknown)."""
    try:
        from llvmlite import binding
    except ImportError:
        return []
    try:
        features = binding.get_host_cpu_features()
    except RuntimeError:  # llvmlite cannot read the features on this platform
        return []
    return [name for name in ("popcnt", "avx512vpopcntdq") if features.get(name)]


def xnor_available() -> tuple[bool, str]:
    """Whether the packed kernels can run here, and why (not).

    Returns
    -------
    available : bool
        ``True`` when numba (>= 0.60) imports. The results are exact with or without a
        hardware popcount instruction; without one LLVM lowers popcount to bit arithmetic.
    reason : str
        The numba version and the CPU's popcount features, or what is missing and how to
        install it.
    """
    try:
        numba = _import_numba()
    except ImportError as error:
        return False, str(error)
    flags = _popcount_flags()
    if flags:
        cpu = f"hardware popcount ({', '.join(flags)})"
    else:
        cpu = f"no x86 popcount flag reported on {platform.machine()}: LLVM lowers popcount"
    return True, f"numba {numba.__version__}, threads as torch's; {cpu}"


class _Kernels(NamedTuple):
    pack_pool: Callable[..., np.ndarray]
    linear: Callable[..., None]
    conv: Callable[..., None]
    max_pool: Callable[..., None]


@functools.cache
def _compiled() -> _Kernels:
    numba = _import_numba()
    from numba.extending import register_jitable

    register_jitable(popcount64)  # callable from the kernels, inlined by LLVM
    _xnor_kernels.prange = numba.prange  # the kernels' parallel loops (plain range uncompiled)
    jit = numba.njit(cache=True, parallel=True)
    kernels = (pack_pool_kernel, linear_kernel, conv_kernel, max_pool_kernel)
    return _Kernels(*(jit(kernel) for kernel in kernels))


def _kernels() -> _Kernels:
    """The compiled kernels, set to use as many threads as torch; ImportError with the reason
    when numba is missing."""
    numba = _import_numba()  # asked every time: the answer may change (tests hide numba)
    kernels = _compiled()
    # torch's threads and numba's take turns (never both at once), so both use torch's count
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    return kernels


# ------------------------------------------------------------------ packing


def _as_array(name: str, x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        if x.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU (the packed kernels run there)")
        if x.dtype not in (torch.float32, torch.float64):
            x = x.to(torch.float32)  # float16/bfloat16/integers: the sign survives
        return x.detach().numpy()
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        return x
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _pack_numpy(x: np.ndarray) -> np.ndarray:
    """NumPy fallback of the packing kernel: real (A, C, S) -> words (A, S, words)."""
    return pack_bits(np.moveaxis(x >= 0, 1, -1))


def pack_signs(x: torch.Tensor | np.ndarray, pool: int = 1) -> PackedSigns:
    """Signs of ``x`` packed along axis 1: the channels of ``(A, C, H, W)``, the features of
    ``(A, F)``.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        Real values, 2-D ``(A, F)`` or 4-D ``(A, C, H, W)``; activations and weights alike
        (conv weights ``(Cout, Cin, k, k)`` pack to ``(Cout, k, k, words)``). The sign is
        :func:`~scaledrop_lib.layers.binary.sign_pm1`'s: ``x >= 0`` (0 and -0.0 included) is
        +1, everything else (NaN included) -1.
    pool : int
        Pack the signs of ``max_pool2d(x, pool)`` (4-D only) without computing the pooled
        floats: the sign of a maximum is the OR of the signs (a window holding NaN gives -1,
        as torch's pooling propagates NaN). Needs numba.

    Returns
    -------
    PackedSigns
        ``bits`` ``(A, words)`` or ``(A, H, W, words)`` (channels last) and ``n`` = F or C.
        numba packs when it is installed; NumPy (bit-identical, slower) otherwise.
    """
    array = _as_array("x", x)
    pool = check_positive_int("pool", pool)
    if array.ndim not in (2, 4):
        raise ValueError(f"x must be 2-D (A, F) or 4-D (A, C, H, W), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"x must have a non-empty first and second axis, got {array.shape}")
    if pool > 1:
        if array.ndim != 4 or min(array.shape[2:]) < pool:
            raise ValueError(f"pool = {pool} needs a 4-D x at least {pool} wide, got {array.shape}")
        packed = _kernels().pack_pool(np.ascontiguousarray(array), np.int64(pool))
        return PackedSigns(packed, array.shape[1])
    count, channels = array.shape[:2]
    flat = np.ascontiguousarray(array.reshape(count, channels, -1))
    try:
        kernels = _kernels()
    except ImportError:
        packed = _pack_numpy(flat)
    else:
        packed = kernels.pack_pool(flat[..., None], np.int64(1))
    return PackedSigns(packed.reshape(count, *array.shape[2:], -1), channels)


def max_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    """``F.max_pool2d(x, k)`` (stride ``k``, no padding), bit for bit, with the numba kernel.

    torch's own CPU max pooling was measured at 5 ms for VGG-small's last pooling at batch 64
    (2 threads), several times its memory traffic; the engines pool once per leaf of the
    prefix tree. ``x``: float32 or float64 (N, C, H, W) on the CPU.
    """
    k = check_positive_int("k", k)
    if not isinstance(x, torch.Tensor) or x.dtype not in (torch.float32, torch.float64):
        raise TypeError("x must be a float32 or float64 torch.Tensor")
    if x.dim() != 4 or min(x.shape[2:]) < k or x.device.type != "cpu":
        raise ValueError(
            f"x must be a CPU tensor (N, C, H, W) at least {k} wide, got {tuple(x.shape)}"
        )
    x = x.detach().contiguous()
    out = torch.empty(*x.shape[:2], x.shape[2] // k, x.shape[3] // k, dtype=x.dtype)
    _kernels().max_pool(x.numpy(), np.int64(k), out.numpy())
    return out


def _check_packed(name: str, packed: PackedSigns, ndim: int) -> np.ndarray:
    """The C-contiguous uint64 bits of ``packed`` after checking shape, words and padding."""
    if not isinstance(packed, PackedSigns):
        raise TypeError(f"{name} must be PackedSigns (see pack_signs), got {type(packed).__name__}")
    n = check_positive_int(f"{name}.n", packed.n)
    bits = packed.bits
    if not isinstance(bits, np.ndarray) or bits.dtype != np.uint64 or bits.ndim != ndim:
        kind = getattr(bits, "dtype", type(bits).__name__)
        raise ValueError(f"{name}.bits must be a {ndim}-D uint64 array, got {kind}")
    if bits.shape[-1] != words_for(n):
        raise ValueError(
            f"{name}.bits must have {words_for(n)} words for n = {n}, got {bits.shape[-1]}"
        )
    tail = n % WORD_BITS
    if tail and np.any(bits[..., -1] >> np.uint64(tail)):
        raise ValueError(f"{name}.bits has set padding bits past n = {n}: pack with pack_signs")
    return np.ascontiguousarray(bits)


# ------------------------------------------------------------------ products


def xnor_linear(packed_x: PackedSigns, packed_w: PackedSigns) -> torch.Tensor:
    """``sign(x) @ sign(w).T`` from packed signs, exactly, as int32 ``(N, Cout)``.

    Parameters
    ----------
    packed_x : PackedSigns
        :func:`pack_signs` of the inputs ``(N, F)``.
    packed_w : PackedSigns
        :func:`pack_signs` of the weights ``(Cout, F)``; same ``n`` as ``packed_x``.
    """
    x_bits = _check_packed("packed_x", packed_x, 2)
    w_bits = _check_packed("packed_w", packed_w, 2)
    if packed_x.n != packed_w.n:
        raise ValueError(f"packed_x has n = {packed_x.n}, packed_w n = {packed_w.n}")
    return _run_linear(x_bits, packed_x.n, np.ascontiguousarray(w_bits.T), torch.int32)


def _run_linear(x_bits: np.ndarray, n: int, wt: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    kernel = _kernels().linear
    out = torch.empty(x_bits.shape[0], wt.shape[1], dtype=dtype)
    kernel(x_bits, wt, np.int64(n), out.numpy())
    return out


def _conv_weights(w_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel layouts of packed conv weights (Cout, k, k, words): tap-major words (k*k*words,
    Cout) and the set bits of each tap (k, k, Cout)."""
    cout = w_bits.shape[0]
    wt = np.ascontiguousarray(w_bits.reshape(cout, -1).T)
    wpop = np.ascontiguousarray(popcount_words(w_bits).sum(-1).transpose(1, 2, 0))
    return wt, wpop


def _conv_output_size(size: int, k: int, stride: int, padding: int) -> int:
    out = (size + 2 * padding - k) // stride + 1
    if out < 1:
        raise ValueError(
            f"the input ({size} wide) with padding {padding} is smaller than the kernel ({k})"
        )
    return out


def _run_conv(
    x_bits: np.ndarray,
    n: int,
    wt: np.ndarray,
    wpop: np.ndarray,
    stride: int,
    padding: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The kernel's products as a new contiguous (N, Cout, H_out, W_out) tensor of ``dtype``."""
    k = wpop.shape[0]
    h_out = _conv_output_size(x_bits.shape[1], k, stride, padding)
    w_out = _conv_output_size(x_bits.shape[2], k, stride, padding)
    kernel = _kernels().conv
    out = torch.empty(x_bits.shape[0], wt.shape[1], h_out, w_out, dtype=dtype)
    sizes = (np.int64(v) for v in (k, stride, padding, n))
    kernel(x_bits, wt, wpop, *sizes, out.numpy())  # written in place: no conversion pass
    return out


def xnor_conv2d(
    x: torch.Tensor | np.ndarray | PackedSigns,
    packed_w: PackedSigns,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """``F.conv2d(sign(x), sign(w), stride=stride, padding=padding)`` from packed signs, exactly.

    Parameters
    ----------
    x : torch.Tensor, numpy.ndarray or PackedSigns
        Real inputs ``(N, Cin, H, W)`` (their signs are packed here) or
        :func:`pack_signs` of them (``(N, H, W, words)``).
    packed_w : PackedSigns
        :func:`pack_signs` of the weights ``(Cout, Cin, k, k)``: ``(Cout, k, k, words)``,
        square kernels; the kernel size is read from it.
    stride, padding : int
        As for :func:`torch.nn.functional.conv2d`; padded positions contribute 0, as there.

    Returns
    -------
    torch.Tensor
        int32 ``(N, Cout, H_out, W_out)``, contiguous. The packed weights are laid out
        again on every call (``O(weights)``); :func:`pack_layer` keeps that layout for
        repeated calls.
    """
    stride = check_positive_int("stride", stride)
    padding = check_positive_int("padding", padding, minimum=0)
    w_bits = _check_packed("packed_w", packed_w, 4)
    if w_bits.shape[1] != w_bits.shape[2]:
        raise ValueError(f"packed_w must hold square kernels, got {w_bits.shape[1:3]}")
    packed_x = x if isinstance(x, PackedSigns) else pack_signs(x)
    x_bits = _check_packed("x", packed_x, 4)
    if packed_x.n != packed_w.n:
        raise ValueError(f"x has {packed_x.n} channels, packed_w expects {packed_w.n}")
    wt, wpop = _conv_weights(w_bits)
    return _run_conv(x_bits, packed_x.n, wt, wpop, stride, padding, torch.int32)


# ------------------------------------------------------------------ binary layers


@dataclass(frozen=True)
class PackedLayer:
    """A binary layer's ±1 weights packed once, in the kernels' layout (see :func:`pack_layer`).

    A snapshot: pack again after the layer's weights change.
    """

    kind: str  # "conv" or "linear"
    n: int  # input channels (conv) or features (linear)
    out_channels: int
    weights: np.ndarray  # uint64 (words, Cout) or (k*k*words, Cout)
    tap_popcounts: np.ndarray | None  # int64 (k, k, Cout) for conv, else None
    kernel_size: int
    stride: int
    padding: int
    bias: torch.Tensor | None


def _check_binary_layer(layer: object) -> BinaryConv2d | BinaryLinear:
    if not isinstance(layer, (BinaryConv2d, BinaryLinear)):
        raise TypeError(f"layer must be a BinaryConv2d or BinaryLinear, got {type(layer).__name__}")
    if layer.training:
        raise ValueError(
            "layer must be in eval mode (layer.eval()): the packed path has no gradient"
        )
    return layer


def _check_pm1(name: str, values: torch.Tensor, why: str) -> None:
    if not bool(((values == 1) | (values == -1)).all()):
        raise ValueError(f"{name} must hold only -1 and +1 {why}")


def pack_layer(layer: BinaryConv2d | BinaryLinear) -> PackedLayer:
    """Pack a binary layer's quantized weights (``layer.binary_weight()``) once.

    The weights must be ±1 (the default IR-Net quantizer's are); the bias is kept as it is.
    """
    layer = _check_binary_layer(layer)
    with torch.no_grad():
        weight = layer.binary_weight()
    _check_pm1("layer.binary_weight()", weight, "(its kernel_quantizer must give signs)")
    packed = pack_signs(weight)
    bits = np.ascontiguousarray(packed.bits)
    bias = None if layer.bias is None else layer.bias.detach().clone()
    kind, n, out_channels, kernel_size, stride, padding = _geometry(layer)
    if kind == "linear":
        weights, tap_popcounts = np.ascontiguousarray(bits.T), None
    else:
        weights, tap_popcounts = _conv_weights(bits)
    return PackedLayer(
        kind, n, out_channels, weights, tap_popcounts, kernel_size, stride, padding, bias
    )


def _geometry(layer: BinaryConv2d | BinaryLinear) -> tuple[str, int, int, int, int, int]:
    """(kind, n, out_channels, kernel_size, stride, padding) of a binary layer."""
    if isinstance(layer, BinaryLinear):
        return ("linear", layer.in_features, layer.out_features, 1, 1, 0)
    return (
        "conv",
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
    )


def _matches(packed: PackedLayer, layer: BinaryConv2d | BinaryLinear) -> bool:
    shape = (packed.kind, packed.n, packed.out_channels)
    return (*shape, packed.kernel_size, packed.stride, packed.padding) == _geometry(layer)


def _packed_input(layer: BinaryConv2d | BinaryLinear, x: torch.Tensor) -> PackedSigns:
    """Signs of the layer's quantized input, packed; ValueError when they are not ±1."""
    if layer.input_quantizer is binarize_ste:
        return pack_signs(x)  # sign_pm1(x) straight to bits
    if layer.input_quantizer is None:
        why = (
            "when the layer has no input quantizer: zeros (SpinDrop's dropped inputs) and "
            "real first-layer inputs have no packed form"
        )
        _check_pm1("x", x, why)
        return pack_signs(x)
    with torch.no_grad():
        quantized = layer.input_quantizer(x)
    _check_pm1("the quantized input", quantized, "(the layer's input_quantizer must give signs)")
    return pack_signs(quantized)


def binary_layer_xnor_forward(
    layer: BinaryConv2d | BinaryLinear,
    x: torch.Tensor,
    packed: PackedLayer | None = None,
) -> torch.Tensor:
    """``layer.binary_output(x)`` (the ±1 product plus bias, before scale and BatchNorm),
    computed on packed bits.

    Parameters
    ----------
    layer : BinaryConv2d or BinaryLinear
        In eval mode, with ±1 quantized weights; its input quantizer must give ±1 (the
        default ``binarize_ste`` does; ``None`` needs ±1 inputs).
    x : torch.Tensor
        The layer's input on the CPU, as for ``layer.binary_output``.
    packed : PackedLayer, optional
        :func:`pack_layer` of ``layer``, to pack the weights once for many calls; packed
        here when omitted.

    Returns
    -------
    torch.Tensor
        ``x.dtype``, contiguous, equal to ``layer.binary_output(x)`` (``torch.equal``) for
        layers without bias (every model in the library). With a bias the result is the
        exact integer product plus ``b``, rounded once; torch's fused bias rounds the
        partial sums and can differ from it in the last bit.
    """
    layer = _check_binary_layer(layer)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    if isinstance(layer, BinaryConv2d) and (x.dim() != 4 or x.shape[1] != layer.in_channels):
        raise ValueError(f"x must have shape (N, {layer.in_channels}, H, W), got {tuple(x.shape)}")
    if isinstance(layer, BinaryLinear) and (x.dim() != 2 or x.shape[1] != layer.in_features):
        raise ValueError(f"x must have shape (N, {layer.in_features}), got {tuple(x.shape)}")
    if packed is None:
        packed = pack_layer(layer)
    elif not isinstance(packed, PackedLayer) or not _matches(packed, layer):
        raise ValueError("packed must be pack_layer(layer) of this layer's shape")
    return packed_layer_product(layer, packed, x, x.dtype)


def packed_layer_product(
    layer: BinaryConv2d | BinaryLinear,
    packed: PackedLayer,
    x: torch.Tensor | PackedSigns,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``layer.binary_output`` on packed bits, for inputs already checked (the engines' path).

    ``x`` is the layer's real input (its signs are packed here) or its packed signs;
    ``dtype`` that of the result (the model's).
    """
    packed_x = x if isinstance(x, PackedSigns) else _packed_input(layer, x)
    if packed_x.n != packed.n:
        raise ValueError(f"the input has {packed_x.n} channels, the layer expects {packed.n}")
    # the kernels write float32/float64 directly; other dtypes go through int32
    kernel_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.int32
    if packed.kind == "linear":
        bits = packed_x.bits.reshape(packed_x.bits.shape[0], -1)
        out = _run_linear(bits, packed.n, packed.weights, kernel_dtype)
    else:
        weights, taps = packed.weights, packed.tap_popcounts
        stride, padding = packed.stride, packed.padding
        out = _run_conv(packed_x.bits, packed.n, weights, taps, stride, padding, kernel_dtype)
    out = out.to(dtype)
    if packed.bias is not None:
        out = out + packed.bias.to(dtype).view(1, -1, *([1] * (out.dim() - 2)))
    return out
