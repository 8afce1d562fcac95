"""Issue #17, reliability of what crosses the disk: dataset loaders on hostile files in the
official formats, checkpoints (metadata, checksums, all-or-nothing loads, stale temporary
files) and training that resumes bit-identically after a real interrupt."""

from __future__ import annotations

import enum
import fcntl
import io
import math
import os
import pickle
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from scaledrop_lib._io import atomic_write, remove_stale_temporaries
from scaledrop_lib.data.digits import split_indices
from scaledrop_lib.data.files import (
    SafeUnpickler,
    load_cifar10,
    load_image_mask_folder,
    load_stl10,
    load_svhn,
)
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.dropout import MCDropout
from scaledrop_lib.layers.sampling import seed_dropout, stochastic_modules
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.digits import digits_cnn
from scaledrop_lib.models.segnets import segnet
from scaledrop_lib.routines.checkpoints import (
    file_sha256,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from scaledrop_lib.routines.train import fit

FEW = settings(deadline=None, max_examples=25)

# ============================================================================= loaders


def write_cifar_batch(root: Path, data, labels, name="test_batch", protocol=4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=protocol))
    return path


def pixels(n, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 3072)).astype(dtype)


@FEW
@given(labels=st.lists(st.integers(-20, 30), min_size=1, max_size=5))
def test_cifar_accepts_exactly_the_labels_0_to_9(labels):
    with tempfile.TemporaryDirectory() as folder:
        write_cifar_batch(Path(folder), pixels(len(labels)), labels)
        if all(0 <= label <= 9 for label in labels):
            assert load_cifar10(folder).tensors[1].tolist() == labels
        else:
            bad = min(v for v in labels if not 0 <= v <= 9)
            with pytest.raises(ValueError, match=rf"test_batch: .*outside 0\.\.9 \(found {bad}\b"):
                load_cifar10(folder)


@FEW
@given(
    dtype=st.sampled_from([np.uint8, np.int16, np.int32, np.uint16, np.float32, np.float64]),
    scale=st.sampled_from([1.0, 1 / 255, 300 / 255]),
)
def test_cifar_pixels_must_be_uint8_and_the_error_says_what_was_found(dtype, scale):
    data = (pixels(2).astype(np.float64) * scale).astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        write_cifar_batch(Path(folder), data, [1, 2])
        if dtype is np.uint8:
            images = load_cifar10(folder).tensors[0]
            np.testing.assert_array_equal(
                (images.numpy() * 255).round().astype(np.uint8).reshape(2, 3072), data
            )
        else:
            with pytest.raises(ValueError, match=rf"pixels are {np.dtype(dtype)}.*expected uint8"):
                load_cifar10(folder)


def test_cifar_float_and_16_bit_pixels_are_refused_not_blackened_or_wrapped(tmp_path):
    write_cifar_batch(tmp_path, pixels(1).astype(np.float32) / 255, [3])
    with pytest.raises(ValueError, match=r"float32 with values in \[0\.0, 1\.0\]"):
        load_cifar10(tmp_path)
    wrapped = pixels(1).astype(np.int16)
    wrapped[0, 0] = 300  # a cast to uint8 would make it 44
    write_cifar_batch(tmp_path, wrapped, [3])
    with pytest.raises(ValueError, match=r"int16 with values in \[\d+, 300\]"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("labels", [[True, False], [1.5, 2.0], ["1", "2"], [2**70, 1]])
def test_cifar_labels_of_the_wrong_type_are_refused(tmp_path, labels):
    write_cifar_batch(tmp_path, pixels(2), labels)
    with pytest.raises(ValueError, match="labels"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_reads_numpy_pickles_of_every_protocol(tmp_path, protocol):
    data = pixels(3, seed=protocol)
    write_cifar_batch(tmp_path, data, [0, 9, 4], protocol=protocol)
    images, labels = load_cifar10(tmp_path).tensors
    assert labels.tolist() == [0, 9, 4]
    np.testing.assert_allclose(images.numpy().reshape(3, 3072), data / 255.0, atol=1e-7)


def test_cifar_reads_pickles_that_name_numpy_1s_modules(tmp_path):
    # the official files (Python 2, numpy 1) name numpy.core.multiarray._reconstruct
    path = write_cifar_batch(tmp_path, pixels(2), [5, 6], protocol=2)
    raw = path.read_bytes()
    assert b"cnumpy._core.multiarray\n_reconstruct\n" in raw
    path.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    assert load_cifar10(tmp_path).tensors[1].tolist() == [5, 6]


class Payload:
    """Unpickling this with plain pickle runs ``os.mkdir(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_cifar_pickle_with_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = write_cifar_batch(tmp_path, pixels(1), [Payload(marker)])
    with pytest.raises(ValueError, match=r"test_batch .*refusing to load posix\.mkdir"):
        load_cifar10(tmp_path)
    assert not marker.exists()
    with open(path, "rb") as handle:  # the same file through plain pickle does run it
        pickle.load(handle, encoding="bytes")
    assert marker.is_dir()


@pytest.mark.parametrize(
    "name", ["os.system", "builtins.eval", "numpy.load", "subprocess.Popen", "_codecs.decode"]
)
def test_the_safe_unpickler_admits_no_other_global(name):
    module, attribute = name.rsplit(".", 1)
    opcode = f"c{module}\n{attribute}\n.".encode()  # protocol 0 GLOBAL
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        SafeUnpickler(io.BytesIO(opcode)).load()


def test_cifar_empty_truncated_and_misshaped_files_name_the_file(tmp_path):
    path = write_cifar_batch(tmp_path, pixels(4), [1, 2, 3, 4])
    whole = path.read_bytes()
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"test_batch is empty \(0 bytes\)"):
        load_cifar10(tmp_path)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"test_batch is unreadable"):
        load_cifar10(tmp_path)
    write_cifar_batch(tmp_path, np.zeros((0, 3072), np.uint8), [])
    with pytest.raises(ValueError, match="holds no images"):
        load_cifar10(tmp_path)
    write_cifar_batch(tmp_path, np.zeros((2, 1000), np.uint8), [1, 2])
    with pytest.raises(ValueError, match=r"shape \(2, 1000\), expected \(N, 3072\)"):
        load_cifar10(tmp_path)


def write_svhn(root: Path, x, y) -> None:
    scipy.io.savemat(root / "test_32x32.mat", {"X": x, "y": y})


@FEW
@given(labels=st.lists(st.integers(-3, 15), min_size=1, max_size=5))
def test_svhn_accepts_1_to_10_and_maps_10_to_0(labels):
    x = np.zeros((32, 32, 3, len(labels)), np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        write_svhn(Path(folder), x, np.array(labels, dtype=np.int16).reshape(-1, 1))
        if all(1 <= label <= 10 for label in labels):
            got = load_svhn(folder).tensors[1].tolist()
            assert got == [label % 10 for label in labels]
        else:
            with pytest.raises(ValueError, match=r"test_32x32\.mat: .*outside 1\.\.10"):
                load_svhn(folder)


def test_svhn_refuses_labels_0_11_99_and_non_uint8_pixels(tmp_path):
    x = np.zeros((32, 32, 3, 3), np.uint8)
    write_svhn(tmp_path, x, np.array([[0], [11], [99]]))
    with pytest.raises(ValueError, match=r"3 labels outside 1\.\.10 \(found 0, 11, 99"):
        load_svhn(tmp_path)
    write_svhn(tmp_path, x, np.array([[1.0], [10.0], [3.0]]))  # MATLAB's doubles: fine
    assert load_svhn(tmp_path).tensors[1].tolist() == [1, 0, 3]
    write_svhn(tmp_path, x.astype(np.float64) / 255, np.array([[1], [2], [3]]))
    with pytest.raises(ValueError, match="pixels are float64.*expected uint8"):
        load_svhn(tmp_path)
    loud = x.astype(np.int16)
    loud[0, 0, 0, 0] = 300
    write_svhn(tmp_path, loud, np.array([[1], [2], [3]]))
    with pytest.raises(ValueError, match=r"int16 with values in \[0, 300\]"):
        load_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test_32x32\.mat is empty"):
        load_svhn(tmp_path)


def test_stl10_empty_and_truncated_files_are_errors_naming_the_file(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    (folder / "test_X.bin").write_bytes(b"")
    (folder / "test_y.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test_X\.bin is empty"):
        load_stl10(tmp_path)
    np.zeros(2 * 3 * 96 * 96, np.uint8).tofile(folder / "test_X.bin")
    with pytest.raises(ValueError, match=r"test_y\.bin is empty"):
        load_stl10(tmp_path)
    np.array([1], np.uint8).tofile(folder / "test_y.bin")
    with pytest.raises(ValueError, match=r"2 images in .*test_X\.bin but 1 labels"):
        load_stl10(tmp_path)
    np.array([1, 11], np.uint8).tofile(folder / "test_y.bin")
    with pytest.raises(ValueError, match=r"test_y\.bin: 1 labels outside 1\.\.10 \(found 11"):
        load_stl10(tmp_path)
    np.zeros(2 * 3 * 96 * 96 - 7, np.uint8).tofile(folder / "test_X.bin")
    with pytest.raises(ValueError, match=r"test_X\.bin does not hold whole .*truncated"):
        load_stl10(tmp_path)


def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@FEW
@given(levels=st.sets(st.sampled_from([0, 1, 2, 128, 254, 255]), min_size=1, max_size=3))
def test_masks_must_be_0_1_or_0_255_unless_a_threshold_is_given(levels):
    levels = sorted(levels)
    mask = np.array([levels * 4], np.uint8)[:, :8]
    mask = np.resize(mask, (4, 8))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        save_png(root / "images" / "a.png", np.zeros((4, 8, 3), np.uint8))
        save_png(root / "masks" / "a.png", mask)
        if set(levels) <= {0, 1} or set(levels) <= {0, 255}:
            got = load_image_mask_folder(root).tensors[1][0, 0].numpy()
            np.testing.assert_array_equal(got, (mask > 0).astype(np.float32))
        else:
            with pytest.raises(ValueError, match=r"masks/a\.png has the grey levels .*0/255"):
                load_image_mask_folder(root)
            got = load_image_mask_folder(root, mask_threshold=0.5).tensors[1][0, 0].numpy()
            np.testing.assert_array_equal(got, (mask > 127.5).astype(np.float32))


def test_a_0_1_mask_png_is_not_read_as_empty(tmp_path):
    mask = np.zeros((6, 6), np.uint8)
    mask[2:4, 1:5] = 1
    save_png(tmp_path / "images" / "a.png", np.full((6, 6, 3), 90, np.uint8))
    save_png(tmp_path / "masks" / "a_segmentation.png", mask)
    got = load_image_mask_folder(tmp_path).tensors[1]
    assert got.sum() == 8 and got[0, 0, 2:4, 1:5].min() == 1.0
    # with an explicit threshold too: a mask of only 0s and 1s is 0/1
    assert load_image_mask_folder(tmp_path, mask_threshold=0.5).tensors[1].sum() == 8


def test_pairing_is_exact_and_ambiguity_is_an_error(tmp_path):
    image, mask = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)
    save_png(tmp_path / "images" / "a.png", image)
    save_png(tmp_path / "images" / "a_mask.png", image)
    save_png(tmp_path / "masks" / "a_mask.png", mask)
    # before: both images got masks/a_mask.png
    with pytest.raises(ValueError, match=r"mask a_mask\.png matches the images a\.png, a_mask"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "images" / "a_mask.png").unlink()
    save_png(tmp_path / "masks" / "a.png", mask)
    with pytest.raises(ValueError, match=r"image a\.png matches the masks a\.png, a_mask\.png"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "masks" / "a.png").unlink()
    save_png(tmp_path / "images" / "b.png", image)
    with pytest.raises(ValueError, match=r"1 images without a mask \(b\)"):
        load_image_mask_folder(tmp_path)
    save_png(tmp_path / "masks" / "b_Segmentation.png", mask)
    assert len(load_image_mask_folder(tmp_path)) == 2


def test_16_bit_and_float_images_are_refused_naming_the_mode(tmp_path):
    save_png(tmp_path / "masks" / "a.png", np.zeros((4, 4), np.uint8))
    wide = Image.fromarray(np.full((4, 4), 300, np.uint16))  # 16-bit grey PNG
    (tmp_path / "images").mkdir()
    wide.save(tmp_path / "images" / "a.png")
    assert Image.open(tmp_path / "images" / "a.png").mode.startswith("I")
    with pytest.raises(ValueError, match=r"images/a\.png has PIL mode 'I.*expected 8-bit"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "images" / "a.png").unlink()
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "images" / "a.tif")
    with pytest.raises(ValueError, match=r"a\.tif has PIL mode 'F'"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "images" / "a.tif").write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read image .*a\.tif"):
        load_image_mask_folder(tmp_path)


def test_an_empty_validation_split_is_an_error():
    with pytest.raises(ValueError, match=r"leave the val part empty"):
        split_indices(10, (0.95, 0.04, 0.01), seed=0)
    assert [len(p) for p in split_indices(10, (0.6, 0.2, 0.2), seed=0)] == [6, 2, 2]


# ============================================================================= checkpoints


class Kind(str, enum.Enum):
    A = "alpha"


def plain(value):
    """What the loader must return for ``value``: the test's own reading of the rules."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def same(a, b) -> bool:
    """Equal values of the same types all the way down (1, 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.integers(-1000, 1000).map(np.int64),
    st.floats(-1e6, 1e6, width=32).map(np.float32),
    st.booleans().map(np.bool_),
    st.text("abc/", max_size=6).map(lambda s: Path("runs") / s),
    st.sampled_from([Kind.A, DropoutKind.SCALE]),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=12,
)


@FEW
@given(metadata=st.dictionaries(st.text(max_size=5), VALUES, max_size=4))
def test_whatever_save_accepts_load_returns_equal(metadata):
    model = nn.Linear(2, 2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.pt"
        save_checkpoint(model, path, metadata)
        loaded = load_checkpoint(nn.Linear(2, 2), path)
    assert same(loaded, plain(metadata))


BAD = [np.zeros(2), np.array(1.0), torch.zeros(1), {1, 2}, object(), b"x", 1j]


@FEW
@given(key=st.text(min_size=1, max_size=5), bad=st.sampled_from(BAD))
def test_metadata_save_cannot_read_back_is_refused_naming_the_entry(key, bad):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.pt"
        with pytest.raises(TypeError) as info:
            save_checkpoint(nn.Linear(2, 2), path, {key: [0, {"inner": bad}]})
        assert f"metadata[{key!r}][1]['inner'] is a" in str(info.value)
        with pytest.raises(TypeError, match=r"metadata\['k'\] has the key 3 of type int"):
            save_checkpoint(nn.Linear(2, 2), path, {"k": {3: "x"}})
        assert list(Path(folder).iterdir()) == []  # nothing written


def test_numpy_scalars_paths_and_enums_in_metadata_round_trip(tmp_path):
    metadata = {
        "acc": np.float64(0.9),
        "n": np.int32(7),
        "ok": np.bool_(True),
        "out": tmp_path / "x",
        "kind": DropoutKind.SCALE,
        "history": {"val": [np.float32(0.5), float("nan")]},
    }
    save_checkpoint(nn.Linear(2, 2), tmp_path / "m.pt", metadata)
    loaded = load_checkpoint(nn.Linear(2, 2), tmp_path / "m.pt")
    assert same(loaded, plain(metadata)) and type(loaded["kind"]) is str


def flip_byte_at(path: Path, needle: bytes, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    where = data.index(needle) + offset
    data[where] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_tensor_data_or_metadata_is_caught_without_a_given_sha(tmp_path):
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.arange(16.0).view(4, 4) + 0.25)
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, {"note": "marker-string"})
    needle = model.weight.detach().numpy().tobytes()
    flip_byte_at(path, needle, offset=21)
    target = nn.Linear(4, 4, bias=False)
    before = target.weight.detach().clone()
    with pytest.raises(ValueError, match="fails its checksum"):
        load_checkpoint(target, path)
    assert torch.equal(target.weight, before)
    save_checkpoint(model, path, {"note": "marker-string"})
    flip_byte_at(path, b"marker-string", offset=3)
    with pytest.raises(ValueError, match="fails its checksum"):
        load_checkpoint(target, path)
    save_checkpoint(model, path, {"note": "marker-string"})
    assert load_checkpoint(target, path) == {"note": "marker-string"}
    assert torch.equal(target.weight, model.weight)


def test_truncated_empty_and_wrong_checksum_files_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    sha = save_checkpoint(nn.Linear(3, 3), path)
    assert sha == file_sha256(path)
    with pytest.raises(ValueError, match="expected 00"):
        load_checkpoint(nn.Linear(3, 3), path, sha256="00")
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(whole) // 2, 10):
        path.write_bytes(whole[:cut])
        with pytest.raises(ValueError, match="corrupt|checksum"):
            load_checkpoint(nn.Linear(3, 3), path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"is empty \(0 bytes\)"):
        load_checkpoint(nn.Linear(3, 3), path)


def test_old_format_files_load_only_with_their_file_checksum(tmp_path):
    model = nn.Linear(2, 3)
    path = tmp_path / "old.pt"
    torch.save({"format": 1, "state_dict": model.state_dict(), "metadata": {"a": 1}}, path)
    with pytest.raises(ValueError, match="old format 1.*pass its sha256"):
        load_checkpoint(nn.Linear(2, 3), path)
    target = nn.Linear(2, 3)
    assert load_checkpoint(target, path, sha256=file_sha256(path)) == {"a": 1}
    assert torch.equal(target.weight, model.weight)


def test_the_committed_zoo_files_still_load_with_the_manifest_checksum():
    from scaledrop_lib.routines.zoo import checkpoint_path, get_recipe, read_manifest

    name = "cnn_sd_p10"
    model = get_recipe(name).build()
    metadata = load_checkpoint(model, checkpoint_path(name), read_manifest()[name]["sha256"])
    assert metadata["name"] == name


def twenty_tensor_model(width_of_last=4):
    layers = [nn.Linear(4, 4) for _ in range(9)] + [nn.Linear(4, width_of_last)]
    return nn.Sequential(*layers)


def test_a_mismatched_checkpoint_changes_nothing(tmp_path):
    save_checkpoint(twenty_tensor_model(), tmp_path / "a.pt")
    target = twenty_tensor_model(width_of_last=5)  # tensors 1-18 fit, 19 and 20 do not
    before = [t.clone() for t in target.state_dict().values()]
    with pytest.raises(ValueError, match=r"9\.weight is \(4, 4\) in the file"):
        load_checkpoint(target, tmp_path / "a.pt")
    assert all(torch.equal(a, b) for a, b in zip(before, target.state_dict().values(), strict=True))


class Refuses(nn.Linear):
    """A layer whose loading fails after the layers before it were copied."""

    def _load_from_state_dict(self, *args, **kwargs):
        raise RuntimeError("this layer cannot be loaded")


def test_a_load_that_fails_inside_torch_puts_every_weight_back(tmp_path):
    save_checkpoint(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), tmp_path / "a.pt")
    target = nn.Sequential(nn.Linear(3, 3), Refuses(3, 3))
    before = [t.clone() for t in target.state_dict().values()]
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_checkpoint(target, tmp_path / "a.pt")
    assert all(torch.equal(a, b) for a, b in zip(before, target.state_dict().values(), strict=True))


def test_an_int_tensor_for_a_float_weight_is_refused_before_copying(tmp_path):
    source = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    save_checkpoint(source, tmp_path / "a.pt")
    payload = torch.load(tmp_path / "a.pt", weights_only=True)
    state = dict(payload["state_dict"])
    state["1.weight"] = torch.ones(2, dtype=torch.int64)
    from scaledrop_lib.routines.checkpoints import check_state_fits

    with pytest.raises(ValueError, match=r"1\.weight is torch\.int64 in the file"):
        check_state_fits(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), state, "x")


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    target = tmp_path / "m.pt"
    script = (
        "import os, signal, sys\n"
        "from scaledrop_lib._io import atomic_write\n"
        "def write(handle):\n"
        "    handle.write(b'half a checkpoint')\n"
        "    handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    assert killed.returncode == -9
    orphans = [p.name for p in tmp_path.iterdir()]
    assert len(orphans) == 1 and orphans[0].startswith("m.pt.") and orphans[0].endswith(".tmp")
    # files that only look similar are not ours and stay
    keep = ["m.pt.notours.tmp", "m.pt.ABCDEFGH.tmp", "other.pt.abcdefgh.tmp", "m.pt.abcdefgh"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    save_checkpoint(nn.Linear(2, 2), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "m.pt"])
    # an orphan is also cleaned by a load
    (tmp_path / "m.pt.zz00zz00.tmp").write_bytes(b"x")
    load_checkpoint(nn.Linear(2, 2), target)
    assert not (tmp_path / "m.pt.zz00zz00.tmp").exists()


def test_a_temporary_that_a_live_writer_holds_is_not_removed(tmp_path):
    live = tmp_path / "m.pt.live0000.tmp"
    live.write_bytes(b"being written")
    with open(live, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        assert remove_stale_temporaries(tmp_path / "m.pt") == []
        atomic_write(tmp_path / "m.pt", lambda h: h.write(b"new"))
        assert live.exists()
    assert remove_stale_temporaries(tmp_path / "m.pt") == [live]
    assert (tmp_path / "m.pt").read_bytes() == b"new"


# ============================================================================= training


class Interrupting(Dataset):
    """A dataset that raises KeyboardInterrupt (as Ctrl-C would) at its ``at``-th item, and
    jitters its inputs with Python's and numpy's global generators (as augmentations do)."""

    def __init__(self, base: Dataset, at: int | None = None) -> None:
        self.base, self.at, self.calls = base, at, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        self.calls += 1
        if self.at is not None and self.calls == self.at:
            raise KeyboardInterrupt
        x, y = self.base[index]
        jitter = 0.01 * random.random() + 0.01 * np.random.random()  # noqa: NPY002
        return x + jitter, y


N_TRAIN = 12


def classification_setup(model_seed: int, dropout_seed: int):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(N_TRAIN, 1, 8, 8, generator=g), torch.arange(N_TRAIN) % 10)
    torch.manual_seed(model_seed)
    model = digits_cnn(NetConfig(dropout="scale", p=0.3))
    seed_dropout(model, dropout_seed)
    first = next(module for _, module in stochastic_modules(model))
    first.generator = None  # this one draws from torch's global generator
    return model, data, "classification"


def segmentation_setup(model_seed: int, dropout_seed: int):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(N_TRAIN, 1, 8, 8, generator=g)
    data = TensorDataset(images, (images > 0.6).float())
    torch.manual_seed(model_seed)
    model = segnet(NetConfig(dropout="scale", p=0.3), in_channels=1, widths=(2, 4, 4))
    model.extra = MCDropout(0.2)  # another dropout module, with its own generator
    seed_dropout(model, dropout_seed)
    return model, data, "segmentation"


def run(setup, folder: Path, *, interrupt_at=None, resume=False, seeds=(0, 3, 5), **overrides):
    model_seed, dropout_seed, shuffle_seed = seeds
    model, data, task = setup(model_seed, dropout_seed)
    train = Interrupting(data, interrupt_at)
    loader = DataLoader(
        train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(shuffle_seed)
    )
    options = {"epochs": 3, "lr": 0.01, "patience": None, "seed": 7, **overrides}
    history = fit(
        model,
        loader,
        DataLoader(data, batch_size=6),
        task=task,
        progress=False,
        checkpoint=folder / "state.pt",
        resume=resume,
        **options,
    )
    return model, history, train


@pytest.mark.parametrize("setup", [classification_setup, segmentation_setup])
def test_resume_after_a_real_interrupt_is_bit_identical(tmp_path, setup):
    reference, expected, _ = run(setup, tmp_path / "straight")
    folder = tmp_path / "interrupted"
    # Ctrl-C in epoch 2 (0-based epoch 1), in the middle of its second batch
    with pytest.raises(KeyboardInterrupt):
        run(setup, folder, interrupt_at=N_TRAIN + 6)
    state = load_training_state(folder / "state.pt")
    assert state["epoch"] == 1 and not state["finished"]
    # whatever happens to the global generators in between is undone by the resume
    torch.manual_seed(12345)
    np.random.seed(12345)  # noqa: NPY002
    random.seed(12345)
    # a fresh model, other dropout and shuffle seeds: all of it comes from the checkpoint
    model, history, _ = run(setup, folder, resume=True, seeds=(99, 98, 97))
    assert history == expected
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not model.training


def test_an_interrupt_leaves_the_best_weights_in_eval_mode(tmp_path):
    model, data, _ = classification_setup(0, 3)
    # Ctrl-C in epoch 3 after its first step: the weights are then neither the best nor the
    # last completed epoch's
    loader = DataLoader(Interrupting(data, 2 * N_TRAIN + 6), batch_size=4, shuffle=True)
    with pytest.raises(KeyboardInterrupt):
        fit(
            model,
            loader,
            DataLoader(data, 6),
            epochs=3,
            lr=0.01,
            patience=None,
            progress=False,
            checkpoint=tmp_path / "s.pt",
        )
    assert not any(m.training for m in model.modules())
    state = load_training_state(tmp_path / "s.pt")
    assert state["epoch"] == 2
    ours, best = model.state_dict(), state["best_state"]
    assert ours.keys() == best.keys()
    assert all(torch.equal(ours[k], best[k]) for k in ours)


def test_resuming_a_different_configuration_is_refused(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(classification_setup, tmp_path, interrupt_at=N_TRAIN + 1)
    with pytest.raises(ValueError, match=r"different training configuration \(differs in: lr\)"):
        run(classification_setup, tmp_path, resume=True, lr=0.02)
    with pytest.raises(ValueError, match=r"differs in: epochs, patience"):
        run(classification_setup, tmp_path, resume=True, epochs=4, patience=2)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        fit(nn.Linear(2, 2), [], [], resume=True)


def test_resuming_a_finished_run_trains_nothing_and_returns_the_same(tmp_path):
    reference, expected, _ = run(classification_setup, tmp_path)
    model, history, train = run(classification_setup, tmp_path, resume=True, seeds=(9, 9, 9))
    assert train.calls == 0 and history == expected
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters(), strict=True)
    )


def test_a_corrupt_training_state_is_refused(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(classification_setup, tmp_path, interrupt_at=N_TRAIN + 1)
    path = tmp_path / "state.pt"
    flip_byte_at(path, b"accuracy", offset=2)
    with pytest.raises(ValueError, match="fails its checksum"):
        run(classification_setup, tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        fit(nn.Linear(2, 2), [], [], resume=tmp_path / "missing.pt", progress=False)


def test_a_non_finite_loss_names_epoch_and_batch_and_keeps_the_last_good_state(tmp_path):
    x = torch.randn(8, 3)
    labels = torch.tensor([0, 1] * 4)
    poisoned = x.clone()
    poisoned[5, 0] = float("nan")

    class Poison(Dataset):  # clean in epoch 0, a NaN in epoch 1, batch 1
        def __init__(self):
            self.calls = 0

        def __len__(self):
            return 8

        def __getitem__(self, i):
            self.calls += 1
            return (x if self.calls <= 8 else poisoned)[i], labels[i]

    model = nn.Sequential(nn.Linear(3, 2))
    loader = DataLoader(Poison(), batch_size=4)
    with pytest.raises(FloatingPointError, match="at epoch 1, batch 1"):
        fit(
            model,
            loader,
            DataLoader(TensorDataset(x, labels), 4),
            epochs=3,
            progress=False,
            checkpoint=tmp_path / "s.pt",
            patience=None,
        )
    state = load_training_state(tmp_path / "s.pt")
    assert state["epoch"] == 1
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert not model.training
    assert all(torch.equal(v, state["best_state"][k]) for k, v in model.state_dict().items())


def test_empty_loaders_are_refused_before_training():
    data = TensorDataset(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    empty = TensorDataset(torch.randn(0, 3), torch.zeros(0, dtype=torch.int64))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=r"train_loader yields no batches \(its dataset holds 0"):
        fit(model, DataLoader(empty, 2), DataLoader(data, 2), progress=False)
    with pytest.raises(ValueError, match=r"val_loader yields no batches"):
        fit(model, DataLoader(data, 2), DataLoader(empty, 2), progress=False)
    with pytest.raises(ValueError, match=r"train_loader yields no batches .*drop_last True"):
        fit(model, DataLoader(data, 8, drop_last=True), DataLoader(data, 2), progress=False)
    assert torch.equal(model.weight, before)


def test_saved_training_states_refuse_objects_that_would_need_pickled_code(tmp_path):
    with pytest.raises(TypeError, match="cannot hash a object"):
        save_training_state(tmp_path / "s.pt", {"x": object()})
    assert list(tmp_path.iterdir()) == []
    torch.save({"format": 2, "kind": "training", "state": {"f": print}}, tmp_path / "s.pt")
    with pytest.raises(ValueError, match="corrupt or not a checkpoint"):
        load_training_state(tmp_path / "s.pt")


# ============================================================================= the CIFAR study


def study_options(out: Path, **overrides):
    from scaledrop_lib.studies.cifar import TrainingOptions

    options = {"out": out, "epochs": 2, "lr": 1e-3, "patience": None, "batch_size": 4}
    return TrainingOptions(device="cpu", **{**options, **overrides})


def train_study_model(name, config, seed, data, options):
    from scaledrop_lib.studies import cifar

    return cifar.train_or_load(name, config, seed, data, options).model


@pytest.fixture(scope="module")
def tiny_cifar():
    g = torch.Generator().manual_seed(0)
    train = TensorDataset(torch.rand(8, 3, 32, 32, generator=g), torch.arange(8) % 10)
    val = TensorDataset(torch.rand(4, 3, 32, 32, generator=g), torch.arange(4))
    return train, val


def test_mixed_precision_trains_and_predicts_on_the_path_a_gpu_run_takes(tmp_path, tiny_cifar):
    """--amp (bfloat16 autocast) goes through one switch, studies.cifar.precision, in training
    and in the predictor every experiment evaluates with. The command turns it on for GPUs
    only; here the same code runs on the CPU, so a GPU user's first run is not its first test."""
    from scaledrop_lib.experiments.runs import Run, build_classifier, predictor
    from scaledrop_lib.studies import cifar

    name, config = "MC-Scale-Dropout", cifar.CONFIGS["MC-Scale-Dropout"]

    def narrow(c):
        return build_classifier("vgg_small", c, width=0.125)

    def trained(amp):
        options = study_options(tmp_path, amp=amp, progress=False)
        return cifar.train_or_load(name, config, 0, tiny_cifar, options, build=narrow, log=str)

    mixed, full = trained(True), trained(False)
    assert mixed.path != full.path  # amp is part of the model's key
    assert mixed.metadata["config"]["amp"] is True
    ours, theirs = mixed.model.state_dict(), full.model.state_dict()
    # autocast was on: bfloat16 products change the gradients, hence the weights
    assert any(not torch.equal(ours[k], theirs[k]) for k in ours)
    assert all(bool(torch.isfinite(v.float()).all()) for v in ours.values())

    run = Run("vgg_small", name, 0, [mixed], config)
    images = tiny_cifar[0].tensors[0]
    with cifar.precision(True, "cpu"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    low = predictor(run, 4, 4, True, "cpu")(images)
    high = predictor(run, 4, 4, False, "cpu")(images)  # same weights and masks, fp32
    assert low.dtype == torch.float32 and low.shape == high.shape == (4, 8, 10)
    assert torch.allclose(low.sum(-1), torch.ones(4, 8), atol=1e-2)  # bfloat16 softmax rows
    assert not torch.equal(low, high)  # bfloat16 was used for the predictions too
    assert float((low - high).abs().mean()) < 0.05


def test_cifar_study_cache_is_keyed_by_configuration_checked_and_resumes(
    tmp_path, tiny_cifar, monkeypatch, capsys
):
    from scaledrop_lib.studies import cifar

    name, config = "MC-Scale-Dropout", cifar.CONFIGS["MC-Scale-Dropout"]
    reference = train_study_model(name, config, 0, tiny_cifar, study_options(tmp_path / "a"))
    # Ctrl-C in the second epoch, then the same command again
    original = cifar.FlipCropDataset.__getitem__
    calls = {"n": 0}

    def interrupting(self, index):
        calls["n"] += 1
        if calls["n"] == 8 + 5:
            raise KeyboardInterrupt
        return original(self, index)

    monkeypatch.setattr(cifar.FlipCropDataset, "__getitem__", interrupting)
    out = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        train_study_model(name, config, 0, tiny_cifar, study_options(out))
    assert [p.name.endswith(".training.pt") for p in out.iterdir()] == [True]
    monkeypatch.setattr(cifar.FlipCropDataset, "__getitem__", original)
    resumed = train_study_model(name, config, 0, tiny_cifar, study_options(out))
    ours, theirs = resumed.state_dict(), reference.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    (cached,) = out.glob("*.pt")  # the training state is gone, the model is cached
    capsys.readouterr()
    train_study_model(name, config, 0, tiny_cifar, study_options(out))
    assert "loaded" in capsys.readouterr().out
    # another lr is another model: trained, not loaded
    train_study_model(name, config, 0, tiny_cifar, study_options(out, lr=2e-3, epochs=1))
    assert "loaded" not in capsys.readouterr().out
    assert len(list(out.glob("*.pt"))) == 2
    # a damaged cache file is refused, not used
    flip_byte_at(cached, b"config_sha256", offset=1)
    with pytest.raises(ValueError, match="checksum"):
        train_study_model(name, config, 0, tiny_cifar, study_options(out))
