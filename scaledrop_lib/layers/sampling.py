"""Switching a model's dropout modules: which ones sample, with which p, from which seeds.

Every Monte-Carlo routine of the library goes through these helpers, so a model's dropout is
configured the same way in training, MC inference, the cost model and the chapters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.layers.dropout import ScaleDropout, StochasticModule


def stochastic_modules(model: nn.Module) -> Iterator[tuple[str, StochasticModule]]:
    """All dropout modules of ``model`` (Scale-Dropout and baselines), with their names."""
    for name, module in model.named_modules():
        if isinstance(module, StochasticModule):
            yield name, module


def _probabilities(
    modules: dict[str, nn.Module], p: float | Mapping[str, float]
) -> dict[str, float]:
    """``p`` (one value, or values by module name) as a checked value per module name."""
    if isinstance(p, Mapping):
        for name in p:
            if name not in modules:
                raise ValueError(f"p names {name!r}, which is not a dropout module of the model")
        return {name: check_probability(f"p[{name!r}]", value) for name, value in p.items()}
    value = check_probability("p", p)
    return dict.fromkeys(modules, value)


@contextlib.contextmanager
def sampling(
    model: nn.Module,
    *,
    mc: bool = True,
    p: float | Mapping[str, float] | None = None,
    seed: int | None = None,
    only: type[nn.Module] | tuple[type[nn.Module], ...] = StochasticModule,
    batch_statistics: bool = False,
) -> Iterator[nn.Module]:
    """Within the block, ``model``'s dropout samples (or not) as asked; on exit every module is
    exactly as before.

    The one way the library switches Monte-Carlo sampling (Sec. IV-B): :func:`mc_predict
    <scaledrop_lib.inference.mc.mc_predict>`, the cost model, training's validation passes and
    the chapters all go through it.

    Parameters
    ----------
    model : nn.Module
        Any model; its dropout modules are the :class:`StochasticModule` s (Scale-Dropout and
        the baselines), any other module with a boolean ``mc`` switch, and plain
        ``torch.nn`` dropout (``Dropout``, ``Dropout2d``, ...), which samples in train mode.
    mc : bool
        Dropout samples in the block (``True``, Monte-Carlo inference) or stays off
        (``False``, the deterministic pass).
    p : float or mapping of str to float, optional
        Dropout probability in the block: one value for every module selected by ``only``, or
        values by module name (as ``model.named_modules()`` names them).
    seed : int, optional
        Seed every dropout module's generator for the block (:func:`seed_dropout`); the
        previous generators come back on exit.
    only : type or tuple of types
        Which :class:`StochasticModule` s ``p`` applies to (e.g. ``ScaleDropout``).
    batch_statistics : bool
        Run the model in train mode, so BatchNorm normalises with the batch's statistics
        instead of its running ones (chapter 2's placement study). Running statistics that
        the block's passes update are put back on exit. Default: eval mode.

    Yields
    ------
    nn.Module
        ``model`` itself.

    Notes
    -----
    On exit every module gets back its own ``training`` flag (``model.train(flag)`` would
    overwrite a mixed state, e.g. a BatchNorm frozen in eval mode), every ``mc`` switch, every
    ``p`` and generator, and BatchNorm's running statistics, also when the block raises.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    selected = {name: m for name, m in stochastic_modules(model) if isinstance(m, only)}
    targets = _probabilities(selected, p) if p is not None else {}
    training = [(module, module.training) for module in model.modules()]
    switches = [
        (module, module.mc)
        for module in model.modules()
        if isinstance(getattr(module, "mc", None), bool)
    ]
    torch_dropout = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    stochastic = [module for _, module in stochastic_modules(model)]
    saved_p = [(module, module.p) for module in stochastic]
    saved_generators = [(module, module.generator) for module in stochastic]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    saved_stats = (
        [{k: v.clone() for k, v in m.state_dict().items()} for m in norms]
        if batch_statistics
        else []
    )
    try:
        model.train(batch_statistics)
        for module, _ in switches:
            module.mc = bool(mc)
        for module in torch_dropout:
            module.training = bool(mc)
        for name, value in targets.items():
            selected[name].p = value
        if seed is not None:
            seed_dropout(model, seed)
        yield model
    finally:
        for module, value in saved_p:
            module.p = value
        for module, generator in saved_generators:
            module.generator = generator
        for module, value in switches:
            module.mc = value
        for module, flag in training:
            module.training = flag
        with torch.no_grad():
            for module, stats in zip(norms, saved_stats, strict=False):
                module.load_state_dict(stats)


@contextlib.contextmanager
def one_draw_per_pass(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Within the block, each :class:`ScaleDropout` module of ``model`` draws its scale once
    per Monte-Carlo pass, however many chunks of inputs the pass runs; yields ``new_pass()``,
    to call before each pass.

    A Scale-Dropout mask belongs to the network, not to an image (the paper's hardware draws
    one random bit per layer per pass), so a pass over N images in chunks must be one network:
    with this, chunked passes give the unchunked samples, and processes that split the images
    between them (torchrun) use the same masks. Element-wise dropout on activations
    (MC-Dropout, SpinDrop) is per image anyway and is not held. On exit every module draws
    per call again.
    """
    modules = [m for _, m in stochastic_modules(model) if isinstance(m, ScaleDropout)]

    def new_pass() -> None:
        for module in modules:
            module.release()

    saved = [module.hold for module in modules]
    try:
        for module in modules:
            module.hold = True
            module.release()
        yield new_pass
    finally:
        for module, hold in zip(modules, saved, strict=True):
            module.hold = hold
            module.release()


SEED_STRIDE = 2**16  # generator seeds of one call: seed * SEED_STRIDE + module index


SEED_LIMIT = 2**63 // SEED_STRIDE  # keeps every generator seed below 2**63


def seed_dropout(model: nn.Module, seed: int) -> None:
    """Give each dropout module its own generator, seeded ``seed * 2**16 + index`` in module
    order.

    After this, the same seed reproduces every mask of a sequence of forward passes. Different
    seeds never share a generator stream (with ``seed + index``, seed 1's first module would
    replay seed 0's second one, and replicas over consecutive seeds would be correlated);
    seed 0 gives module i the seed i.

    Raises
    ------
    ValueError
        If ``seed`` is negative or too large for a generator seed (>= 2**47), or the model has
        2**16 dropout modules or more.
    """
    seed = check_positive_int("seed", seed, minimum=0)
    if seed >= SEED_LIMIT:
        raise ValueError(f"seed must be below 2**47, got {seed}")
    modules = [module for _, module in stochastic_modules(model)]
    if len(modules) >= SEED_STRIDE:
        raise ValueError(f"seed_dropout supports fewer than {SEED_STRIDE} dropout modules")
    for index, module in enumerate(modules):
        module.generator = torch.Generator().manual_seed(seed * SEED_STRIDE + index)


def set_dropout_p(model: nn.Module, p: float | Mapping[str, float]) -> None:
    """Set the dropout probability of every module (a float) or of named modules (a mapping),
    for good; :func:`sampling` sets it for one block."""
    modules = dict(stochastic_modules(model))
    for name, value in _probabilities(modules, p).items():
        modules[name].p = value


def scale_dropout_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer that carries a :class:`ScaleDropout` module."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(getattr(module, "scale_dropout", None), ScaleDropout)
    ]


def apply_layerwise_p(
    model: nn.Module, small_p: float = 0.1, large_p: float = 0.5
) -> dict[str, tuple[int, float]]:
    """Layer-dependent dropout probability (Sec. III-D): ``small_p`` or ``large_p`` per layer.

    The paper leaves "small" and "large" undefined. Here a layer is *large* if it has more
    weights than the median layer among the model's Scale-Dropout layers, else *small*.
    Sets each module's ``p`` and returns ``{layer name: (weight count, p)}``.
    """
    small_p = check_probability("small_p", small_p)
    large_p = check_probability("large_p", large_p)
    layers = scale_dropout_layers(model)
    if not layers:
        raise ValueError("model has no layers with a ScaleDropout module")
    counts = [int(layer.weight.numel()) for _, layer in layers]
    median = float(torch.tensor(counts, dtype=torch.float64).median())
    assignment = {}
    for (name, layer), count in zip(layers, counts, strict=True):
        p = large_p if count > median else small_p
        layer.scale_dropout.p = p
        assignment[name] = (count, p)
    return assignment
