"""The CIFAR-10 study's library side (the paper's flips and crops); the experiments themselves run
through the ``scaledrop`` command (tests/test_cli.py)."""

from scaledrop_lib.studies import cifar as shift_study


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
