"""Weight recipes on numpy arrays (`incept_dsl.passes.recipe_arrays`): how a weight is scaled."""

from __future__ import annotations

import numpy as np
import pytest

from incept_dsl.passes.recipe_arrays import _times


def _ulps(a: np.ndarray, b: np.ndarray) -> int:
    bits = {np.float32: np.int32, np.float16: np.int16}[a.dtype.type]
    return int(np.abs(a.view(bits).astype(np.int64) - b.view(bits).astype(np.int64)).max())


def test_a_float32_weight_is_within_one_ulp_of_the_float64_product_rounded_once() -> None:
    rng = np.random.default_rng(0)
    scale = np.exp(rng.uniform(-20, 20, (4000, 1)))
    a = (rng.standard_normal((4000, 300)) * scale).astype(np.float32)
    f = np.exp(rng.uniform(-5, 5, (4000, 1)))  # per-output-channel factors, float64
    got = _times(a, f)
    want = (a.astype(np.float64) * f).astype(np.float32)
    assert got.dtype == np.float32 and got.shape == a.shape
    assert _ulps(got, want) == 1  # it can differ (f is rounded to float32 first), by one ulp
    assert _times(a, 0.17).dtype == np.float32  # a residual scale, a Python float


def test_other_dtypes_multiply_in_float64_and_round_once() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 32)).astype(np.float16)
    f = rng.uniform(0.1, 3, (64, 1))
    got = _times(a, f)
    assert got.dtype == np.float16
    assert _ulps(got, (a.astype(np.float64) * f).astype(np.float16)) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_the_source_array_is_not_changed(dtype: type) -> None:
    a = np.arange(12, dtype=dtype).reshape(3, 4)
    before = a.copy()
    _times(a, np.array([[2.0], [3.0], [0.5]]))
    np.testing.assert_array_equal(a, before)
