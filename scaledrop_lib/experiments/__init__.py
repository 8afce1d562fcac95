"""The ``scaledrop`` command: one experiment per table or figure of the paper, on real datasets.

``scaledrop <experiment> [options]`` trains (or loads) binary ResNet-18, ResNet-20 and
VGG-small with every method, then measures what the paper reports, over several seeds; see
``scaledrop --help``. Settings come from defaults, then a TOML file (``--config``), then the
flags. The core library never imports this package: it sits above ``viz``, whose figures it
writes.

Several processes (GPUs, machines, or CPU processes with gloo) run it under ``torchrun``::

    torchrun --nproc_per_node 2 -m scaledrop_lib.experiments evaluate --config run.toml

Models train with DistributedDataParallel and a DistributedSampler; evaluation shards the
images by whole evaluation batches and gathers them (layer-wise Scale-Dropout: the samples of
one process, bit for bit); rank 0 alone logs and writes (see ``distributed``).

Modules
-------
settings       Every setting of the command: its default, its flag, its config-file key, its
               check
datasets       The datasets of the command: CIFAR-10 (+ SVHN, STL-10 as OOD sets) and
               image/mask folders
runs           Building the nets and training or loading every (model, method, seed) of a run
measures       What the experiments measure: Acc/NLL/ECE/Brier, AUROC/AUPR/FPR95, timing, CIM
               costs, scales
output         Results on disk: mean ± sd over seeds, one JSON, one CSV and the figures per
               experiment
commands       The experiments: train, evaluate, ood, rotation, variation, samples, accuracy,
               segment
cli            The ``scaledrop`` console script: one subcommand per experiment
distributed    Running under ``torchrun``: the process group, rank 0, shards, gathers
full_scale     The book's "Full-scale results" page: the paper's numbers beside committed results
"""
