"""Every setting of the command: its default, its flag, its config-file key, its check.

One dataclass, :class:`Settings`, declares each setting once; its field metadata gives the
help text, the kind of value and the experiments that read it. The command line
(:mod:`scaledrop_lib.experiments.cli`) builds its flags from it, and :func:`load_settings`
merges, in this order, the defaults, a config file and the flags (flags win).

Config files are TOML (Python 3.11's ``tomllib``) or JSON (any ``.json`` file; the only
format Python 3.10 can read here). Keys are the flag names without the dashes, with ``-`` or
``_`` (``data_dir`` or ``data-dir``). Top-level keys apply to every experiment; a table named
after an experiment applies to that experiment only::

    data_dir = "~/data"
    models = ["resnet20", "vgg_small"]
    seeds = [0, 1, 2]
    epochs = 200

    [ood]
    T = 50

Relative paths in a file are relative to the file's folder; on the command line, to the
working directory.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scaledrop_lib.data.shift import DEFAULT_NOISE_STD
from scaledrop_lib.studies.cifar import METHODS

#: Python 3.11's TOML reader; None on 3.10 (then only JSON config files are read).
tomllib = importlib.import_module("tomllib") if importlib.util.find_spec("tomllib") else None

#: The experiments, in the order of ``scaledrop --help``, with what each reproduces.
EXPERIMENTS: dict[str, str] = {
    "train": "train (or load) every model x method x seed; learned scales per layer",
    "evaluate": "Acc, NLL, ECE, Brier, ms per image and CIM costs on the CIFAR-10 test set",
    "ood": "Table V: AUROC, AUPR, FPR95 and the Eq. 24 detection rate per OOD set (D1-D6)",
    "rotation": "Fig. 6: accuracy and predictive entropy of rotated test images",
    "variation": "Table III: MC-Scale-Dropout accuracy with masks from varying MTJ chips",
    "samples": "Fig. 7: accuracy and entropy against the number of MC samples T",
    "accuracy": "Table VI: test accuracy per topology and method beside the paper's",
    "segment": "Table IV: U-Net / SegNet segmentation metrics on an image/mask folder",
    "mechanism": "why MC-Scale-Dropout's uncertainty is small: per layer what one dropped "
    "scale changes, and the uncertainty it adds over the deterministic softmax",
}
#: Experiments on CIFAR-10 classifiers (all but ``segment``) and those that evaluate (all but
#: ``train``): which settings each experiment reads.
CLASSIFICATION = tuple(name for name in EXPERIMENTS if name != "segment")
EVALUATING = tuple(name for name in EXPERIMENTS if name != "train")
MODELS = ("vgg_small", "resnet18", "resnet20")
SEGMENTATION_MODELS = ("unet", "segnet")
SEGMENTATION_METHODS = ("MC-Scale-Dropout", "MC-Dropout", "deterministic")
DEVICES = ("auto", "cpu", "cuda")
OOD_SCORES = ("entropy", "mutual_information")


#: List kinds and the kind of their items (``0``: zero allowed; ``?``: the list may be None).
LIST_KINDS = {"ints": "int", "ints0": "int0", "floats": "float", "strs": "str"}


class SettingsError(ValueError):
    """A setting is missing, unknown or out of range; the message names it and its source."""


def _meta(
    kind: str,
    help: str,
    experiments: Sequence[str] | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A setting's field metadata: kind of value, help, the experiments that read it."""
    return {
        "kind": kind,
        "help": help,
        "experiments": tuple(EXPERIMENTS) if experiments is None else tuple(experiments),
        "choices": tuple(choices) if choices is not None else None,
        "metavar": metavar,
    }


@dataclass(frozen=True)
class Settings:
    """The settings of one experiment run (see the module docstring for the sources).

    Kinds of value (field metadata ``kind``): ``path``, ``bool``, ``str``, ``int`` (>= 1),
    ``int0`` (>= 0), ``float``, ``float0`` (>= 0), lists of them (``ints``, ``ints0``,
    ``floats``, ``strs``); a trailing ``?`` allows ``None`` (not set).
    """

    data_dir: Path | None = field(
        default=None,
        metadata=_meta(
            "path",
            "folder with the datasets: cifar-10-batches-py/, test_32x32.mat (SVHN), stl10_binary/",
            metavar="DIR",
        ),
    )
    download: bool = field(
        default=False,
        metadata=_meta("bool", "fetch missing datasets with torchvision's loaders (network)"),
    )
    out: Path = field(
        default=Path("runs/scaledrop"),
        metadata=_meta(
            "path",
            "output folder: checkpoints/ (trained models, resumable states) and results/",
            metavar="DIR",
        ),
    )
    device: str = field(
        default="auto", metadata=_meta("str", "cpu, cuda, cuda:N or auto (cuda if available)")
    )
    amp: bool = field(
        default=False,
        metadata=_meta("bool", "mixed precision (bfloat16 autocast) on a GPU; ignored on CPU"),
    )
    seeds: list[int] = field(
        default_factory=lambda: [0],
        metadata=_meta("ints0", "training seeds; results are mean ± sd over them"),
    )
    progress: bool = field(default=True, metadata=_meta("bool", "progress bars (on stderr)"))
    models: list[str] = field(
        default_factory=lambda: ["vgg_small"],
        metadata=_meta("strs", "topologies", CLASSIFICATION, MODELS, "MODEL"),
    )
    methods: list[str] = field(
        default_factory=lambda: list(METHODS),
        metadata=_meta("strs", "methods (studies.cifar.CONFIGS)", CLASSIFICATION, METHODS, "M"),
    )
    width: float = field(
        default=1.0,
        metadata=_meta("float", "channel width multiplier (1 = the paper's nets)", CLASSIFICATION),
    )
    p: float = field(default=0.2, metadata=_meta("float", "dropout probability of every method"))
    layerwise_p: list[float] | None = field(
        default=None,
        metadata=_meta(
            "floats?",
            "layer-wise Scale-Dropout p (Sec. III-D): SMALL for layers with at most the median "
            "weight count, LARGE above it",
            metavar=("SMALL", "LARGE"),
        ),
    )
    epochs: int = field(default=100, metadata=_meta("int", "maximum training epochs (Adam)"))
    patience: int = field(
        default=20, metadata=_meta("int0", "early-stopping patience (epochs); 0: train all")
    )
    lr: float = field(default=1e-3, metadata=_meta("float", "Adam learning rate"))
    batch_size: int = field(default=128, metadata=_meta("int", "training batch size"))
    val_size: int = field(
        default=5000,
        metadata=_meta("int", "last CIFAR-10 training images kept for validation", CLASSIFICATION),
    )
    train_limit: int | None = field(
        default=None,
        metadata=_meta("int?", "train on the first N images only", CLASSIFICATION, metavar="N"),
    )
    test_limit: int | None = field(
        default=None,
        metadata=_meta("int?", "test on the first N images only", EVALUATING[:-1], metavar="N"),
    )
    ensemble_size: int = field(
        default=5, metadata=_meta("int", "members of the deep ensemble", CLASSIFICATION)
    )
    T: int = field(default=20, metadata=_meta("int", "Monte-Carlo passes", EVALUATING))
    eval_batch_size: int = field(
        default=1000, metadata=_meta("int", "images per forward pass at evaluation", EVALUATING)
    )
    ece_bins: int = field(
        default=15, metadata=_meta("int", "equal-width confidence bins of the ECE", ["evaluate"])
    )
    n_ood: int = field(
        default=8000, metadata=_meta("int", "images per OOD set (the paper's 8000)", ["ood"])
    )
    noise_std: float = field(
        default=DEFAULT_NOISE_STD,
        metadata=_meta("float0", "noise sd of D3 (D4: the same sd, uniform)", ["ood"]),
    )
    threshold: float = field(default=0.95, metadata=_meta("float", "Eq. 24's threshold", ["ood"]))
    ood_score: str = field(
        default="entropy",
        metadata=_meta("str", "OOD score of AUROC, AUPR, FPR95", ["ood"], OOD_SCORES),
    )
    angles: list[float] = field(
        default_factory=lambda: [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0],
        metadata=_meta("floats", "rotation angles (degrees)", ["rotation"]),
    )
    variation_levels: list[float] = field(
        default_factory=lambda: [0.0, 1.0, 2.0, 3.0],
        metadata=_meta("floats", "MTJ variation levels (multiples of 1x, Eq. 22)", ["variation"]),
    )
    chips: int = field(
        default=3, metadata=_meta("int", "simulated MTJ chips per level", ["variation"])
    )
    Ts: list[int] = field(
        default_factory=lambda: [1, 2, 5, 10, 20, 50],
        metadata=_meta("ints", "numbers of MC samples (nested draws)", ["samples"]),
    )
    seg_dir: Path | None = field(
        default=None,
        metadata=_meta(
            "path", "images/ + masks/ folder (default <data-dir>/isic)", ["segment"], None, "DIR"
        ),
    )
    seg_model: str = field(
        default="unet",
        metadata=_meta("str", "segmentation net", ["segment"], SEGMENTATION_MODELS),
    )
    seg_methods: list[str] = field(
        default_factory=lambda: list(SEGMENTATION_METHODS),
        metadata=_meta("strs", "segmentation methods", ["segment"], SEGMENTATION_METHODS, "M"),
    )
    seg_size: int = field(
        default=128,
        metadata=_meta("int", "resize to SIZE x SIZE (a multiple of 8)", ["segment"], None, "SIZE"),
    )
    seg_width: float = field(
        default=1.0,
        metadata=_meta("float", "width multiplier of the net (1 = 16-32-64)", ["segment"]),
    )
    seg_split: list[float] = field(
        default_factory=lambda: [0.7, 0.1, 0.2],
        metadata=_meta(
            "floats", "train/val/test fractions", ["segment"], None, ("TRAIN", "VAL", "TEST")
        ),
    )
    mask_threshold: float | None = field(
        default=None,
        metadata=_meta("float?", "binarise grey-level masks at this fraction of 255", ["segment"]),
    )
    grayscale: bool = field(
        default=False, metadata=_meta("bool", "read the images as one grey channel", ["segment"])
    )

    def __post_init__(self) -> None:
        check_settings(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (paths as strings) for result files."""
        return {
            f.name: str(value) if isinstance(value, Path) else value
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }

    def with_values(self, **values: Any) -> Settings:
        """A copy with some settings changed (checked again)."""
        return replace(self, **values)


def option_fields(experiment: str | None = None) -> list:
    """The dataclass fields of :class:`Settings`, or those ``experiment`` reads."""
    return [
        f for f in fields(Settings) if experiment is None or experiment in f.metadata["experiments"]
    ]


def flag_name(name: str) -> str:
    """``--data-dir`` for ``data_dir`` (``--T`` and ``--Ts`` keep their case)."""
    return "--" + name.replace("_", "-")


# ----------------------------------------------------------------------------- checks


def _where(name: str, source: str) -> str:
    return f"{flag_name(name)}" if source == "flag" else f"{source}: key {name!r}"


def _coerce(name: str, value: Any, kind: str, source: str, base: Path | None) -> Any:
    """``value`` as the field's type, or :class:`SettingsError` naming the key and source."""
    where = _where(name, source)
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        if optional or kind == "path":
            return None
        raise SettingsError(f"{where} must be set")

    def scalar(item: Any, item_kind: str) -> Any:
        if item_kind == "bool":
            if not isinstance(item, bool):
                raise SettingsError(f"{where} must be true or false, got {item!r}")
            return item
        if item_kind in ("int", "int0"):
            if isinstance(item, bool) or not isinstance(item, int):
                raise SettingsError(f"{where} must be an integer, got {item!r}")
            return int(item)
        if item_kind in ("float", "float0"):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise SettingsError(f"{where} must be a number, got {item!r}")
            if not math.isfinite(item):
                raise SettingsError(f"{where} must be finite, got {item!r}")
            return float(item)
        if item_kind == "path":
            if not isinstance(item, (str, Path)):
                raise SettingsError(f"{where} must be a path, got {item!r}")
            path = Path(item).expanduser()
            return base / path if base is not None and not path.is_absolute() else path
        if not isinstance(item, str):
            raise SettingsError(f"{where} must be a string, got {item!r}")
        return item

    if kind in LIST_KINDS:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise SettingsError(f"{where} must be a list, got {value!r}")
        if len(value) == 0:
            raise SettingsError(f"{where} must not be empty")
        return [scalar(item, LIST_KINDS[kind]) for item in value]
    return scalar(value, kind)


def check_settings(settings: Settings) -> None:
    """Ranges and choices of every setting, and what settings require of each other."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        where = flag_name(f.name)
        kind, choices = f.metadata["kind"], f.metadata["choices"]
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if choices is not None and item not in choices:
                hint = difflib.get_close_matches(str(item), choices, n=1)
                raise SettingsError(
                    f"{where}: unknown value {item!r}; choose from {', '.join(choices)}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
            if kind.rstrip("?") in ("int", "ints") and item < 1:
                raise SettingsError(f"{where} must be >= 1, got {item}")
            if kind in ("int0", "ints0") and item < 0:
                raise SettingsError(f"{where} must be >= 0, got {item}")
        fixed_length = isinstance(f.metadata["metavar"], tuple)  # e.g. SMALL LARGE
        if isinstance(value, list) and not fixed_length and len(set(value)) != len(value):
            raise SettingsError(f"{where} lists a value twice: {value}")
    if max(settings.seeds) >= 2**31:
        raise SettingsError(f"--seeds must lie in 0 .. 2**31 - 1, got {settings.seeds}")
    if not (settings.device in DEVICES or settings.device.startswith("cuda:")):
        raise SettingsError(f"--device must be cpu, cuda, cuda:N or auto, got {settings.device!r}")
    for name in ("p", "threshold"):
        value = getattr(settings, name)
        if not 0.0 <= value <= 1.0:
            raise SettingsError(f"{flag_name(name)} must lie in [0, 1], got {value}")
    if settings.mask_threshold is not None and not 0.0 <= settings.mask_threshold <= 1.0:
        raise SettingsError(f"--mask-threshold must lie in [0, 1], got {settings.mask_threshold}")
    for name in ("width", "seg_width", "lr"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{flag_name(name)} must be > 0, got {getattr(settings, name)}")
    if settings.noise_std < 0:
        raise SettingsError(f"--noise-std must be >= 0, got {settings.noise_std}")
    if settings.layerwise_p is not None:
        if len(settings.layerwise_p) != 2 or not all(0 <= v <= 1 for v in settings.layerwise_p):
            raise SettingsError(
                f"--layerwise-p takes two probabilities SMALL LARGE, got {settings.layerwise_p}"
            )
    if settings.variation_levels and min(settings.variation_levels) < 0:
        raise SettingsError(f"--variation-levels must be >= 0, got {settings.variation_levels}")
    if settings.seg_size % 8:
        raise SettingsError(
            f"--seg-size must be a multiple of 8 (three 2x2 poolings), got {settings.seg_size}"
        )
    split = settings.seg_split
    if len(split) != 3 or any(not 0 < v < 1 for v in split) or abs(sum(split) - 1) > 1e-9:
        raise SettingsError(
            f"--seg-split takes three fractions in (0, 1) summing to 1, got {split}"
        )
    if settings.ensemble_size > 100:
        raise SettingsError(f"--ensemble-size must be <= 100, got {settings.ensemble_size}")


# ----------------------------------------------------------------------------- sources


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The key-value table of a TOML or JSON config file (JSON for a ``.json`` suffix).

    Raises
    ------
    SettingsError
        The file is missing or unreadable, not a table, or TOML on a Python without
        ``tomllib`` (3.10); the message names the file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SettingsError(f"config file {path} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"config file {path} is not valid JSON: {error}") from None
    else:
        if tomllib is None:
            raise SettingsError(
                f"config file {path}: reading TOML needs Python 3.11 or later (tomllib); on "
                "this Python write the same keys as JSON in a .json file"
            )
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a table of settings")
    return data


def _known(key: str, names: Sequence[str], source: str) -> str:
    name = key.replace("-", "_")
    if name not in names:
        hint = difflib.get_close_matches(name, names, n=1)
        raise SettingsError(
            f"{source}: unknown setting {key!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + "; the settings are those of `scaledrop <experiment> --help`"
        )
    return name


def file_values(data: Mapping[str, Any], experiment: str, source: str, base: Path) -> dict:
    """The settings a config file's table gives ``experiment``: its top-level keys, then its
    ``[experiment]`` table; checked and converted (paths relative to ``base``)."""
    names = [f.name for f in fields(Settings)]
    kinds = {f.name: f.metadata["kind"] for f in fields(Settings)}
    values: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key in EXPERIMENTS:
            if not isinstance(value, dict):
                raise SettingsError(f"{source}: [{key}] must be a table of settings")
            sections[key] = value
            continue
        name = _known(key, names, source)
        values[name] = _coerce(name, value, kinds[name], source, base)
    for key, value in sections.get(experiment, {}).items():
        name = _known(key, names, f"{source} [{experiment}]")
        values[name] = _coerce(name, value, kinds[name], f"{source} [{experiment}]", base)
    return values


def load_settings(
    experiment: str, flags: Mapping[str, Any], config: str | Path | None = None
) -> Settings:
    """Defaults, then the config file, then the flags (each given flag wins).

    Parameters
    ----------
    experiment : str
        One of :data:`EXPERIMENTS` (selects the file's ``[experiment]`` table).
    flags : mapping
        Settings given on the command line, by field name (absent = not given).
    config : str or Path, optional
        A TOML or JSON config file.

    Raises
    ------
    SettingsError
        An unknown experiment or key, a value of the wrong kind or out of range; the message
        names the flag or the file and key.
    """
    if experiment not in EXPERIMENTS:
        raise SettingsError(f"unknown experiment {experiment!r}; choose from {list(EXPERIMENTS)}")
    values: dict[str, Any] = {}
    if config is not None:
        path = Path(config).expanduser()
        values.update(
            file_values(read_config_file(path), experiment, f"config file {path}", path.parent)
        )
    kinds = {f.name: f.metadata["kind"] for f in fields(Settings)}
    for name, value in flags.items():
        if name not in kinds:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, kinds[name], "flag", None)
    return Settings(**values)
