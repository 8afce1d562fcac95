"""scaledrop_lib.grading: library functions put off limits really raise, the tests still reach
the originals, and check_own tells a student's own function from a wrapper of the library."""

from __future__ import annotations

import inspect
import types

import pytest
import torch

import scaledrop_lib
import scaledrop_lib.layers.binary as binary_module
import scaledrop_lib.metrics as metrics_package
import scaledrop_lib.metrics.ood as ood_module
import scaledrop_lib.metrics.predictive as predictive_module
from scaledrop_lib import grading
from scaledrop_lib.grading import OffLimitsError, check_own, library_reference, off_limits
from scaledrop_lib.layers.binary import SignSTE
from scaledrop_lib.metrics.ood import auroc as real_auroc
from scaledrop_lib.metrics.predictive import predictive_entropy, predictive_mean


@pytest.fixture(autouse=True)
def restore_library():
    yield
    grading._restore()


def as_main(source: str, **globals_) -> dict:
    """Run ``source`` as notebook code (module ``__main__``) and return its namespace."""
    namespace = {"__name__": "__main__", **globals_}
    exec(compile(source, "<notebook cell>", "exec"), namespace)
    return namespace


def test_off_limits_function_raises_everywhere_it_is_exported():
    off_limits(["scaledrop_lib.metrics.ood.auroc"])
    # the defining module, the subpackage, the top-level package and a fresh from-import
    for namespace in (ood_module, metrics_package, scaledrop_lib):
        with pytest.raises(OffLimitsError, match=r"auroc.*write your own"):
            namespace.auroc([0.1, 0.2], [0.9])
    from scaledrop_lib.metrics import auroc

    with pytest.raises(OffLimitsError):
        auroc([0.1, 0.2], [0.9])
    # inspect.unwrap must not hand the original back to a student
    assert inspect.unwrap(auroc) is auroc and auroc is not real_auroc
    assert issubclass(OffLimitsError, RuntimeError)


def test_library_reference_is_the_original_and_still_works():
    off_limits(["scaledrop_lib.metrics.ood.auroc"])
    reference = library_reference("scaledrop_lib.metrics.ood.auroc")
    assert reference is real_auroc
    assert reference([0.1, 0.2], [0.9, 0.15]) == pytest.approx(0.75)


def test_library_code_keeps_calling_an_off_limits_function():
    # predictive_entropy calls predictive_mean inside the library: that call must not raise
    probs = torch.softmax(torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0)), -1)
    expected = predictive_entropy(probs)
    off_limits(["scaledrop_lib.metrics.predictive.predictive_mean"])
    assert predictive_module.predictive_mean is not predictive_mean
    torch.testing.assert_close(predictive_module.predictive_entropy(probs), expected)
    with pytest.raises(OffLimitsError):
        predictive_module.predictive_mean(probs)


def test_off_limits_class_cannot_be_used_or_subclassed_from_a_notebook():
    off_limits(["scaledrop_lib.layers.binary.SignSTE"])
    stub = binary_module.SignSTE
    assert stub is not SignSTE
    with pytest.raises(OffLimitsError, match="SignSTE"):
        stub.apply(torch.tensor([0.5]))
    with pytest.raises(OffLimitsError):
        as_main("class Mine(SignSTE):\n    pass\n", SignSTE=stub)
    # the library's own binarize_ste still goes through the original class
    x = torch.tensor([-0.5, 0.0, 2.0], requires_grad=True)
    out = scaledrop_lib.layers.binarize_ste(x)
    out.sum().backward()
    assert out.tolist() == [-1.0, 1.0, 1.0]
    assert x.grad.tolist() == [1.0, 1.0, 0.0]
    assert library_reference("scaledrop_lib.layers.binary.SignSTE") is SignSTE


def test_unknown_names_are_rejected_by_name_and_nothing_is_patched():
    with pytest.raises(ValueError, match=r"scaledrop_lib\.metrics\.nope.*numpy\.mean"):
        off_limits(["scaledrop_lib.metrics.ood.auroc", "scaledrop_lib.metrics.nope", "numpy.mean"])
    assert ood_module.auroc is real_auroc
    with pytest.raises(ValueError, match="not put off limits"):
        library_reference("scaledrop_lib.metrics.ood.auroc")


def test_off_limits_twice_keeps_the_original():
    off_limits(["scaledrop_lib.metrics.ood.auroc"])
    off_limits(["scaledrop_lib.metrics.ood.auroc"])
    assert library_reference("scaledrop_lib.metrics.ood.auroc") is real_auroc
    grading._restore()
    assert ood_module.auroc is real_auroc
    assert metrics_package.auroc is real_auroc


def test_check_own_accepts_a_function_written_in_the_notebook():
    namespace = as_main(
        "import torch\n"
        "def helper(p):\n"
        "    return p.mean(dim=0)\n"
        "def my_mean(p):\n"
        "    total = helper(p)\n"
        "    return total\n"
        "class MySTE(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        return torch.where(x >= 0, 1.0, -1.0)\n"
    )
    check_own(namespace["my_mean"])
    check_own(namespace["MySTE"])


@pytest.mark.parametrize(
    "source",
    [
        "wrapped = lambda p: predictive_mean(p)\n",
        "def wrapped(p):\n    return predictive_mean(p)\n",
        "import scaledrop_lib.metrics as m\ndef wrapped(p):\n    return m.predictive_mean(p)\n",
        "def inner(p):\n    return predictive_mean(p)\ndef wrapped(p):\n    return inner(p)\n",
        "def wrapped(p):\n    def nested(q):\n        return predictive_mean(q)\n"
        "    return nested(p)\n",
        "def wrapped(p, f=predictive_mean):\n    return f(p)\n",
        "def wrapped(p):\n    import importlib\n"
        "    return importlib.import_module('scaledrop_lib.metrics').predictive_mean(p)\n",
        "class wrapped:\n    def __call__(self, p):\n        return predictive_mean(p)\n",
        "def make():\n    f = predictive_mean\n    def inner(p):\n        return f(p)\n"
        "    return inner\nwrapped = make()\n",
    ],
    ids=["lambda", "call", "module", "helper", "nested", "default", "import", "method", "closure"],
)
def test_check_own_rejects_code_that_calls_the_library(source):
    namespace = as_main(source, predictive_mean=predictive_mean)
    with pytest.raises(AssertionError, match="uses scaledrop_lib"):
        check_own(namespace["wrapped"], "wrapped")


def test_check_own_rejects_library_objects_and_non_functions():
    with pytest.raises(AssertionError, match="not from this notebook"):
        check_own(predictive_mean)
    module = types.ModuleType("elsewhere")
    exec("def f(x):\n    return x\n", module.__dict__)
    with pytest.raises(AssertionError, match="'elsewhere'"):
        check_own(module.f)
    with pytest.raises(AssertionError, match="function or class"):
        check_own(sum, "sum")
    subclass = as_main("class Mine(SignSTE):\n    pass\n", SignSTE=SignSTE)["Mine"]
    with pytest.raises(AssertionError, match="inherits from the library"):
        check_own(subclass)
