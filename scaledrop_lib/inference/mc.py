"""Monte-Carlo inference: T stochastic passes, one deterministic pass, an ensemble's passes.

Shapes: MC samples of softmax probabilities are (T, N, C): T passes, N inputs, C classes.
The metrics that read them are in :mod:`scaledrop_lib.metrics`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import nn

from scaledrop_lib._checks import (
    check_batch,
    check_choice,
    check_inputs_fit,
    check_positive_int,
    shape_errors_name_inputs,
)
from scaledrop_lib.inference.budget import check_sample_memory
from scaledrop_lib.inference.prefix import prefix_shared_predict
from scaledrop_lib.inference.program import (
    BACKENDS,
    BinaryRunner,
    build_program,
    prefix_program,
)
from scaledrop_lib.layers.sampling import one_draw_per_pass, sampling
from scaledrop_lib.models.stages import PrefixObstacle
from scaledrop_lib.progress import progress as progress_bar


@contextlib.contextmanager
def _inference(
    model: nn.Module, mc: bool, device: str | torch.device | None, batch_size: int | None
) -> Iterator[str | torch.device]:
    """:func:`~scaledrop_lib.layers.sampling.sampling` without autograd; yields the device to
    run on (default: where the model's parameters are)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    device = check_device(model, device)
    with sampling(model, mc=mc), torch.inference_mode():
        yield device


def check_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """The device to run ``model`` on: ``device``, or where its parameters are (default).

    Raises ``ValueError`` naming ``device`` for a device this machine does not have (e.g.
    ``"cuda"`` without a GPU), instead of torch's driver error deep inside the first pass.
    """
    if device is None:
        first = next(model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device is {str(device)!r} but torch sees no CUDA GPU here; use 'cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device is {str(device)!r} but there are {torch.cuda.device_count()} CUDA devices"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device is 'mps' but this machine has no MPS backend; use 'cpu'")
    return device


def _program_forward(
    model: nn.Module, backend: str, device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` itself, or its program (:mod:`scaledrop_lib.inference.program`) with packed
    binary layers when the backend packs any; call it inside the sampling context."""
    program = build_program(model) if backend != "torch" else None
    if program is None:
        if backend == "xnor":
            warnings.warn(
                f"backend='xnor' not used, running fp32: {type(model).__name__} "
                f"{PrefixObstacle.NO_PROGRAM.value}",
                stacklevel=3,
            )
        return model
    runner = BinaryRunner(program.binary_layers(), backend, device)
    if not runner.any_packed:
        return model
    fused = program.fuse(runner)
    return lambda x: fused.run(runner, x)


def _forward(model: Callable, x: torch.Tensor, softmax: bool) -> torch.Tensor:
    """``model(x)``, with torch's shape errors turned into a ValueError naming ``inputs``, and
    the output checked: one row per input, and logits (N, C) when a softmax follows (a
    softmax of an (N,) output would run across the batch). Raw outputs (``logits=True``, e.g.
    a segmentation net's (N, 1, H, W)) only need the batch dimension."""
    with shape_errors_name_inputs(x):
        out = model(x)
    wanted_dims = (2,) if softmax else range(1, 8)
    if (
        not isinstance(out, torch.Tensor)
        or out.dim() not in wanted_dims
        or out.shape[0] != x.shape[0]
    ):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the model must return logits of shape (N, C) = ({x.shape[0]}, C) for inputs of "
            f"shape {tuple(x.shape)}; it returned {shape}"
        )
    return out


def _batched_outputs(
    model: Callable, inputs: torch.Tensor, batch_size: int | None, device, logits: bool = False
):
    def head(x: torch.Tensor) -> torch.Tensor:
        out = _forward(model, x.to(device), softmax=not logits)
        return (out if logits else torch.softmax(out, dim=-1)).cpu()

    if batch_size is None:
        return head(inputs)
    return torch.cat([head(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])


def mc_predict(
    model: nn.Module,
    inputs: torch.Tensor,
    T: int,
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    method: str = "auto",
    logits: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """T stochastic forward passes with dropout on at inference: softmax samples (T, N, C).

    BatchNorm uses its running statistics (eval mode) while every dropout module samples
    (Sec. IV-B). The model's mode flags are restored afterwards.

    Two engines give identical results for the same masks: the naive loop (one pass at a time
    over the whole input; replicating the batch T times was measured slower on CPU), and the
    prefix-shared engine of :mod:`scaledrop_lib.inference.prefix`, which computes each layer's
    binary output once per distinct prefix of Scale-Dropout masks. Either computes binary
    layers with fp32 or on packed bits (``backend``), with the same results.

    Parameters
    ----------
    model : nn.Module
        Returns logits (N, C).
    inputs : torch.Tensor
        A batch of inputs (N, ...).
    T : int
        Number of Monte-Carlo passes (>= 1).
    batch_size : int, optional
        Split the inputs into chunks of this size (memory). Each pass's Scale-Dropout masks
        are drawn once for all chunks (a pass is one network; see
        :func:`~scaledrop_lib.layers.sampling.one_draw_per_pass`), so the samples do not
        depend on ``batch_size``; element-wise dropout on activations (MC-Dropout, SpinDrop)
        draws a mask per image, so chunks change which mask an image gets, not their
        distribution.
    device : str or torch.device, optional
        Where to run (default: where the model's parameters are).
    progress : bool
        Show a progress bar over the passes (naive loop only).
    method : {"auto", "naive", "prefix"}
        ``"auto"`` (default) uses the prefix-shared engine when it can prove the model safe,
        else the naive loop, warning only if a module is unknown to the engine (element-wise
        masks and other dropout are known cases that simply need the loop). ``"prefix"`` asks
        for the engine and warns whenever it falls back; ``"naive"`` always loops.
    logits : bool
        Return the softmax *inputs* (logits) of every pass instead of the probabilities
        (e.g. for the paper's Fig. 5, which shows both).
    backend : {"auto", "torch", "xnor"}
        How binary layers compute their ±1 products: fp32 (``"torch"``) or bit-packed
        XNOR-popcount (``"xnor"``, exact: the same samples). ``"auto"`` packs a layer by the
        fixed rule of :mod:`scaledrop_lib.inference.program` (numba installed, inputs on the
        CPU, a ±1 layer without bias in eval mode, >= 16 input channels); ``"xnor"`` packs
        every exact layer and warns, with the reason, where it cannot.

    Returns
    -------
    torch.Tensor
        Softmax probabilities (or logits) (T, N, C), on the CPU.

    Raises
    ------
    TypeError
        ``inputs`` is not a floating-point tensor of the model's dtype.
    ValueError
        ``inputs`` is empty, holds NaN or inf (a NaN image would otherwise come out as a
        confident prediction), or does not fit the model (rank, channels or features of its
        first layer; any shape error of the model's own is re-raised naming the inputs); the
        model does not return logits (N, C); ``device`` is not on this machine; T passes would
        exceed the memory budget (:mod:`scaledrop_lib.inference.budget`), checked before
        they run.

    Notes
    -----
    Sampling modules: every module with a boolean ``mc`` switch (the library's dropout
    modules) gets ``mc = True``, and plain ``torch.nn`` dropout modules (``Dropout``,
    ``Dropout2d``, ...) alone are put in train mode. Every flag is restored afterwards, also
    when a pass raises. Randomness comes from the modules' own generators (see
    :func:`scaledrop_lib.layers.sampling.seed_dropout`); plain torch dropout draws from torch's
    global generator, which this function neither seeds nor touches otherwise.
    """

    T = check_positive_int("T", T)
    check_batch(inputs)
    check_inputs_fit(model, inputs)
    check_choice("method", method, ("auto", "naive", "prefix"))
    check_choice("backend", backend, BACKENDS)
    use_prefix = False
    if method != "naive":
        program, reason = prefix_program(model)
        if not reason:
            use_prefix = True
        elif method == "prefix" or (program is not None and not program.is_known_limitation()):
            warnings.warn(
                f"prefix-shared MC not used, running the naive loop: {reason}", stacklevel=2
            )
    with _inference(model, mc=True, device=device, batch_size=batch_size) as device:
        if use_prefix:
            with shape_errors_name_inputs(inputs):
                out = prefix_shared_predict(
                    model,
                    inputs.to(device),
                    T,
                    logits=logits,
                    batch_size=batch_size,
                    backend=backend,
                )[0]
            return out.cpu()
        forward = _program_forward(model, backend, device)
        samples = []
        with one_draw_per_pass(model) as new_pass:  # one network per pass over all chunks
            for _ in progress_bar(range(T), desc="MC passes", enabled=progress):
                new_pass()
                samples.append(_batched_outputs(forward, inputs, batch_size, device, logits=logits))
                if len(samples) == 1:
                    check_sample_memory(T, samples[0])
    return torch.stack(samples)


def deterministic_predict(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    batch_size: int | None = None,
    device=None,
    logits: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """One pass with every dropout module off (the point estimate): softmax (N, C), on the CPU.

    The whole model is in eval mode and every ``mc`` switch is off for the call; all flags are
    restored afterwards. ``batch_size``, ``device``, ``logits`` and ``backend`` are as in
    :func:`mc_predict`.
    """
    check_batch(inputs)
    check_inputs_fit(model, inputs)
    check_choice("backend", backend, BACKENDS)
    with _inference(model, mc=False, device=device, batch_size=batch_size) as device:
        forward = _program_forward(model, backend, device)
        return _batched_outputs(forward, inputs, batch_size, device, logits=logits)


def ensemble_predict(models: list[nn.Module], inputs: torch.Tensor) -> torch.Tensor:
    """Softmax of each ensemble member, deterministic: (M, N, C), usable like MC samples."""
    if not models:
        raise ValueError("models must not be empty")
    outputs = [deterministic_predict(m, inputs) for m in models]
    classes = [out.shape[1] for out in outputs]
    if len(set(classes)) > 1:
        raise ValueError(f"models must all predict the same number of classes, got {classes}")
    return torch.stack(outputs)
