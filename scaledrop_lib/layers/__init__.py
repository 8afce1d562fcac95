"""Building blocks of binary networks with Scale-Dropout.

Modules
-------
binary         Binarization: sign, straight-through estimator, IR-Net weights, binary layers, XNOR-
               popcount
quantizers     PACT: learnable-clipping activation quantisation (Choi et al., 2018), as the paper
               uses for
dropout        Scale-Dropout (Eq. 5-9) and the dropout baselines the book compares it with
sampling       Switching a model's dropout modules: which ones sample, with which p, from which
               seeds
"""

from scaledrop_lib.layers.binary import (
    ACTIVATIONS,
    WEIGHT_AXES,
    WORD_BITS,
    BinaryConv2d,
    BinaryLinear,
    SignActivation,
    SignSTE,
    TanhActivation,
    binarize_ste,
    channel_entropies,
    irnet_binarize,
    make_activation,
    pack_pm1,
    sign_pm1,
    standardize_weights,
    weight_entropy,
    xnor_conv2d,
    xnor_popcount_dot,
    xnor_popcount_matmul,
)
from scaledrop_lib.layers.dropout import (
    GRANULARITIES,
    VARIANTS,
    MaskSource,
    MCDropout,
    ScaleDropout,
    SpatialSpinDropout,
    SpinDropout,
    StochasticModule,
    bernoulli_drop_mask,
)
from scaledrop_lib.layers.quantizers import (
    PACT,
    pact_quantize,
)
from scaledrop_lib.layers.sampling import (
    SEED_LIMIT,
    SEED_STRIDE,
    apply_layerwise_p,
    sampling,
    scale_dropout_layers,
    seed_dropout,
    set_dropout_p,
    stochastic_modules,
)

__all__ = [
    "ACTIVATIONS",
    "GRANULARITIES",
    "PACT",
    "SEED_LIMIT",
    "SEED_STRIDE",
    "VARIANTS",
    "WEIGHT_AXES",
    "WORD_BITS",
    "BinaryConv2d",
    "BinaryLinear",
    "MCDropout",
    "MaskSource",
    "ScaleDropout",
    "SignActivation",
    "SignSTE",
    "SpatialSpinDropout",
    "SpinDropout",
    "StochasticModule",
    "TanhActivation",
    "apply_layerwise_p",
    "bernoulli_drop_mask",
    "binarize_ste",
    "channel_entropies",
    "irnet_binarize",
    "make_activation",
    "pack_pm1",
    "pact_quantize",
    "sampling",
    "scale_dropout_layers",
    "seed_dropout",
    "set_dropout_p",
    "sign_pm1",
    "standardize_weights",
    "stochastic_modules",
    "weight_entropy",
    "xnor_conv2d",
    "xnor_popcount_dot",
    "xnor_popcount_matmul",
]
