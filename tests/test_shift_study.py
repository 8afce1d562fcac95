"""The CIFAR-10 path of chapter 4 end to end, on tiny fake dataset files in the real formats."""

import json

import pytest
from fake_datasets import write_fake_datasets

from scaledrop_lib.studies import cifar as shift_study


def test_study_runs_end_to_end_and_resumes(tmp_path, capsys):
    write_fake_datasets(tmp_path / "data")
    out = tmp_path / "run"
    argv = [
        "--data-root",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--methods",
        "deterministic",
        "MC-Scale-Dropout",
        "ensemble",
        "--ensemble-size",
        "2",
        "--epochs",
        "1",
        "--val-size",
        "10",
        "--T",
        "3",
        "--n-ood",
        "7",
        "--angles",
        "0",
        "90",
        "--batch-size",
        "8",
    ]
    results = shift_study.main(argv)
    saved = json.loads((out / "results.json").read_text())
    assert saved["ood"]["set_names"] == {
        "D1": "Gaussian noise",
        "D2": "uniform noise",
        "D3": "test + Gaussian noise",
        "D4": "test + uniform noise",
        "D5": "SVHN",
        "D6": "STL-10",
    }
    for method in ("deterministic", "MC-Scale-Dropout", "ensemble"):
        rates = saved["ood"]["detection"][method]
        assert set(rates) == {"D1", "D2", "D3", "D4", "D5", "D6"}
        assert all(0 <= r <= 1 for r in rates.values())
        assert len(saved["rotation"]["accuracy"][method]) == 2
    assert results["test_accuracy"] == saved["test_accuracy"]
    checkpoints = sorted(p.name.rsplit("_", 1)[0] for p in out.glob("*.pt"))
    assert checkpoints == [  # each name ends in its configuration's hash; no training states
        "MC-Scale-Dropout_seed0",
        "deterministic_seed0",
        "ensemble_seed100",
        "ensemble_seed101",
    ]
    # a second run loads the saved models instead of training again
    capsys.readouterr()
    again = shift_study.main(argv)
    assert "loaded" in capsys.readouterr().out
    assert again["ood"] == results["ood"]


def test_unknown_method_is_rejected(tmp_path):
    write_fake_datasets(tmp_path / "data")
    with pytest.raises(ValueError, match="unknown methods"):
        shift_study.main(["--data-root", str(tmp_path / "data"), "--methods", "Bayes-by-backprop"])


def test_flip_crop_is_a_window_of_the_padded_image_or_its_mirror():
    import torch
    from torch.nn.functional import pad
    from torch.utils.data import TensorDataset

    image = torch.arange(3 * 8 * 8, dtype=torch.float32).view(3, 8, 8) + 1
    data = shift_study.FlipCropDataset(TensorDataset(image[None], torch.tensor([4])), padding=2)
    candidates = {}
    for flipped in (False, True):
        padded = pad(image.flip(-1) if flipped else image, (2, 2, 2, 2))
        for top in range(5):
            for left in range(5):
                candidates[(flipped, top, left)] = padded[:, top : top + 8, left : left + 8]
    torch.manual_seed(0)
    seen = set()
    for _ in range(60):
        out, label = data[0]
        assert int(label) == 4 and out.shape == image.shape
        matches = [key for key, window in candidates.items() if torch.equal(out, window)]
        assert len(matches) == 1
        seen.add(matches[0][0])
    assert seen == {False, True}  # both orientations occur
    assert len(data) == 1
