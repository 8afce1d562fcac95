"""scaledrop: a teaching workbench for Scale-Dropout (Ahmed et al., arXiv 2311.15816).

Each module implements one idea of the paper; the chapter notebooks only call them.

Modules
-------
binary        sign, straight-through estimator, IR-Net weights, binary layers, XNOR-popcount
scaledrop     Scale-Dropout (Eq. 5-9) and the dropout baselines
placement     where the scale sits relative to BatchNorm, and why it matters
models        digits MLP/CNN, VGG-small, ResNet-18/20, LeNet-5, segmentation U-Net / SegNet
train         the paper's objective (Eq. 17), early stopping, checkpoints
zoo           small pretrained checkpoints with a checksum manifest (``make zoo``)
uncertainty   Monte-Carlo inference, uncertainty, calibration and OOD metrics
fastmc        exact Monte-Carlo inference with shared mask prefixes
mc_cost       the analytic cost (FLOPs x expected distinct prefixes) of that engine
allocator     glibc malloc settings for steady CPU timings (benchmarks)
shift, ood    distribution shift, OOD sets D1-D6, rotation sweeps, Table V
shift_study   chapter 4's CIFAR-10 study (command line)
lesions, pact, segmentation, seg_metrics   chapter 5: segmentation and uncertainty masks
mtj           the MTJ random bit source (Eq. 22-23)
cim           computation-in-memory mapping, energy and overheads (Table VII)
data          bundled digits, CIFAR-10 / SVHN / STL-10 / image-mask folder loaders
plotting, widgets, progress, book   the book's figures, sliders, progress bars, HTML glue
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
