import math

import pytest
import torch

from scaledrop_lib._checks import (
    check_choice,
    check_positive_int,
    check_probability,
    check_tensor_dims,
)


@pytest.mark.parametrize("value", [0, 0.0, 0.25, 1])
def test_probability_accepts_the_closed_unit_interval(value):
    assert check_probability("p", value) == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf])
def test_probability_rejects_values_outside_and_names_argument(value):
    with pytest.raises(ValueError, match="^p must lie in"):
        check_probability("p", value)


@pytest.mark.parametrize("value", ["0.5", True, None])
def test_probability_rejects_non_numbers(value):
    with pytest.raises(TypeError, match="p must be"):
        check_probability("p", value)


def test_positive_int():
    assert check_positive_int("T", 3) == 3
    with pytest.raises(ValueError, match="T must be >= 1"):
        check_positive_int("T", 0)
    with pytest.raises(TypeError, match="T must be an integer"):
        check_positive_int("T", 2.0)


def test_choice_lists_the_options():
    assert check_choice("variant", "unitary", ["unitary", "average"]) == "unitary"
    with pytest.raises(ValueError, match="unknown variant 'zero'.*'unitary', 'average'"):
        check_choice("variant", "zero", ["unitary", "average"])


def test_tensor_dims():
    x = torch.zeros(2, 3)
    assert check_tensor_dims("x", x, 2) is x
    with pytest.raises(ValueError, match=r"x must have 4 dimensions, got shape \(2, 3\)"):
        check_tensor_dims("x", x, 4)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        check_tensor_dims("x", [1, 2], 1)
