"""Monte-Carlo inference: T stochastic passes, one deterministic pass, an ensemble's passes.

Shapes: MC samples of softmax probabilities are (T, N, C): T passes, N inputs, C classes.
The metrics that read them are in :mod:`scaledrop_lib.metrics`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from scaledrop_lib._checks import (
    check_choice,
    check_positive_int,
)
from scaledrop_lib.inference.budget import check_sample_memory
from scaledrop_lib.inference.prefix import prefix_shared_predict
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.models.stages import prefix_support
from scaledrop_lib.progress import progress as progress_bar


@contextlib.contextmanager
def _inference(
    model: nn.Module, mc: bool, device: str | torch.device | None, batch_size: int | None
) -> Iterator[str | torch.device]:
    """:func:`~scaledrop_lib.layers.sampling.sampling` without autograd; yields the device to
    run on (default: where the model's parameters are)."""
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    with sampling(model, mc=mc), torch.inference_mode():
        yield device


def _check_inputs(inputs: torch.Tensor) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got {tuple(inputs.shape)}")
    if not torch.is_floating_point(inputs):
        raise TypeError(f"inputs must be a floating-point tensor, got {inputs.dtype}")
    bad = ~torch.isfinite(inputs).flatten(1).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:5].tolist()
        # a NaN image would otherwise pass through sign() as -1 and come out confident
        raise ValueError(f"inputs must be finite; inputs {rows} hold NaN or inf")
    return inputs


def _batched_outputs(
    model: nn.Module, inputs: torch.Tensor, batch_size: int | None, device, logits: bool = False
):
    def head(x: torch.Tensor) -> torch.Tensor:
        out = model(x.to(device))
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
) -> torch.Tensor:
    """T stochastic forward passes with dropout on at inference: softmax samples (T, N, C).

    BatchNorm uses its running statistics (eval mode) while every dropout module samples
    (Sec. IV-B). The model's mode flags are restored afterwards.

    Two engines give identical results for the same masks: the naive loop (one pass at a time
    over the whole input; replicating the batch T times was measured slower on CPU), and the
    prefix-shared engine of :mod:`scaledrop_lib.inference.prefix`, which computes each layer's
    binary output once per distinct prefix of Scale-Dropout masks.

    Parameters
    ----------
    model : nn.Module
        Returns logits (N, C).
    inputs : torch.Tensor
        A batch of inputs (N, ...).
    T : int
        Number of Monte-Carlo passes (>= 1).
    batch_size : int, optional
        Split the inputs into chunks of this size (memory).
    device : str or torch.device, optional
        Where to run (default: where the model's parameters are).
    progress : bool
        Show a progress bar over the passes (naive loop only).
    method : {"auto", "naive", "prefix"}
        ``"auto"`` (default) uses the prefix-shared engine when it can prove the model safe
        and no ``batch_size`` is given, else the naive loop, warning only if a module is
        unknown to the engine (element-wise masks, other dropout and residual nets are known
        cases that simply need the loop). ``"prefix"`` asks for the engine and warns whenever
        it falls back; ``"naive"`` always loops.
    logits : bool
        Return the softmax *inputs* (logits) of every pass instead of the probabilities
        (e.g. for the paper's Fig. 5, which shows both).

    Returns
    -------
    torch.Tensor
        Softmax probabilities (or logits) (T, N, C), on the CPU.

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
    _check_inputs(inputs)
    check_choice("method", method, ("auto", "naive", "prefix"))
    use_prefix = False
    if method != "naive":
        support = prefix_support(model)
        reason = str(support)
        if batch_size is not None:
            reason = "batch_size splits the input (each chunk draws its own masks)"
        if not reason:
            use_prefix = True
        elif method == "prefix" or (
            support.obstacle is not None and not support.obstacle.is_known_limitation
        ):
            warnings.warn(
                f"prefix-shared MC not used, running the naive loop: {reason}", stacklevel=2
            )
    with _inference(model, mc=True, device=device, batch_size=batch_size) as device:
        if use_prefix:
            return prefix_shared_predict(model, inputs.to(device), T, logits=logits)[0].cpu()
        samples = []
        for _ in progress_bar(range(T), desc="MC passes", enabled=progress):
            samples.append(_batched_outputs(model, inputs, batch_size, device, logits=logits))
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
) -> torch.Tensor:
    """One pass with every dropout module off (the point estimate): softmax (N, C), on the CPU.

    The whole model is in eval mode and every ``mc`` switch is off for the call; all flags are
    restored afterwards. ``batch_size``, ``device`` and ``logits`` are as in
    :func:`mc_predict`.
    """
    _check_inputs(inputs)
    with _inference(model, mc=False, device=device, batch_size=batch_size) as device:
        return _batched_outputs(model, inputs, batch_size, device, logits=logits)


def ensemble_predict(models: list[nn.Module], inputs: torch.Tensor) -> torch.Tensor:
    """Softmax of each ensemble member, deterministic: (M, N, C), usable like MC samples."""
    if not models:
        raise ValueError("models must not be empty")
    return torch.stack([deterministic_predict(m, inputs) for m in models])
