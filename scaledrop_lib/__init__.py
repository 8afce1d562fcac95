"""scaledrop: a teaching workbench for Scale-Dropout (Ahmed et al., arXiv 2311.15816).

One concept of the paper per subpackage; the chapter notebooks only call them. Dependencies
point one way: ``viz`` -> ``studies`` -> ``routines`` / ``inference`` / ``metrics`` ->
``models`` -> ``layers``; ``data`` and ``hardware`` stand beside them. Nothing outside ``viz``
imports plotly or ipywidgets, so the core installs and imports without them.

Modules
-------
layers         sign, STE, IR-Net, XNOR-popcount; PACT; Scale-Dropout and the baselines; sampling
models         digits MLP/CNN, 28x28 MNIST CNN, VGG-small, ResNet-18/20, LeNet-5, U-Net / SegNet
inference      Monte-Carlo prediction, the exact prefix-shared engine, its analytic cost,
               bit-packed XNOR-popcount layer products (numba, optional [fast] extra)
metrics        predictive uncertainty, NLL / Brier, calibration, OOD detection, segmentation
data           embedded 8x8 digits and 28x28 MNIST, lesions, shift and OOD sets, real loaders
routines       the Eq. 17 trainer, the segmentation trainer, checkpoints, the pretrained zoo
studies        the experiments behind the chapters (placement, T sweeps, shift, variation,
               the mechanism and its sensitivity sweep)
hardware       the MTJ random bit source (Eq. 22-23) and the CIM cost model (Tables II, VII)
paper          the paper's published numbers (Tables IV, V, VI, VIII), in one place
kinds          the two vocabularies: DropoutKind (what a net carries), Method (what a result is)
progress       progress bars for training and inference
tables         tables that show as HTML in notebooks and the book, as text in a terminal
viz            plotly style, figures, tables, widgets, the book's myst-nb glue (needs [book])
checkpoints    the small committed checkpoints the zoo loads, with a sha256 manifest
results        committed result files of studies too slow to run live, with a sha256 manifest
grading        the course assignments' guards: library functions put off limits (nbgrader)
experiments    the ``scaledrop`` command: the paper's experiments on CIFAR-10, SVHN, STL-10 and
               ISIC-style folders, one subcommand per table or figure (needs [book] for figures)

The names below are the most used ones; every subpackage exports its own public API.
"""

from scaledrop_lib.inference.mc import deterministic_predict, ensemble_predict, mc_predict
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, binarize_ste, sign_pm1
from scaledrop_lib.layers.dropout import MCDropout, ScaleDropout, SpatialSpinDropout, SpinDropout
from scaledrop_lib.layers.sampling import seed_dropout, set_dropout_p
from scaledrop_lib.metrics.calibration import expected_calibration_error
from scaledrop_lib.metrics.classification import accuracy, brier_score, negative_log_likelihood
from scaledrop_lib.metrics.ood import auroc, fpr_at_tpr, ood_rule
from scaledrop_lib.metrics.predictive import (
    mutual_information,
    predictive_entropy,
    predictive_mean,
    predictive_variance,
)
from scaledrop_lib.models import NetConfig, digits_cnn, digits_mlp, lenet5, vgg_small
from scaledrop_lib.routines.checkpoints import load_checkpoint, save_checkpoint
from scaledrop_lib.routines.train import fit
from scaledrop_lib.routines.zoo import load_pretrained

__version__ = "0.1.0"

__all__ = [
    "BinaryConv2d",
    "BinaryLinear",
    "MCDropout",
    "NetConfig",
    "ScaleDropout",
    "SpatialSpinDropout",
    "SpinDropout",
    "__version__",
    "accuracy",
    "auroc",
    "binarize_ste",
    "brier_score",
    "deterministic_predict",
    "digits_cnn",
    "digits_mlp",
    "ensemble_predict",
    "expected_calibration_error",
    "fit",
    "fpr_at_tpr",
    "lenet5",
    "load_checkpoint",
    "load_pretrained",
    "mc_predict",
    "mutual_information",
    "negative_log_likelihood",
    "ood_rule",
    "predictive_entropy",
    "predictive_mean",
    "predictive_variance",
    "save_checkpoint",
    "seed_dropout",
    "set_dropout_p",
    "sign_pm1",
    "vgg_small",
]
