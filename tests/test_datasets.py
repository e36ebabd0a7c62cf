import functools

import numpy as np
import pytest

from sknntk.datasets import (
    TARGETS,
    make_grid,
    make_nonsmooth,
    piecewise,
    square_wave,
    weierstrass,
)

# Points on both sides of and exactly at the jumps (0 and the integers).
POINTS = np.array([-2.5, -2.0, -1.0, -0.75, -1e-12, 0.0, 1e-12, 0.3, 1.0, 1.25, 3.7])


def _square_wave_reference(x):
    # sin(pi * k) is a rounding error rather than 0, so set integers explicitly.
    return np.where(x == np.round(x), 0.0, np.sign(np.sin(np.pi * x)))


REFERENCES = {
    "sign": np.sign,
    "sawtooth": lambda x: x - np.floor(x),
    "square_wave": _square_wave_reference,
    "piecewise": lambda x: np.where(x < 0, x - 1.0, 0.5 * x + 1.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "weierstrass": lambda x: sum(0.5**k * np.cos(3.0**k * np.pi * x) for k in range(8)),
}


def test_targets_cover_every_name():
    assert set(TARGETS) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_target_matches_formula(name):
    np.testing.assert_allclose(
        TARGETS[name](POINTS), REFERENCES[name](POINTS), atol=1e-12
    )


@pytest.mark.parametrize(("x", "expected"), [(0.0, 0.0), (1.0, 0.0), (-3.0, 0.0)])
def test_square_wave_is_zero_at_integers(x, expected):
    assert square_wave(np.array([x]))[0] == expected


def test_piecewise_takes_right_value_at_zero():
    assert piecewise(np.array([0.0]))[0] == 1.0


def test_weierstrass_is_maximal_at_zero():
    expected = (1 - 0.5**8) / (1 - 0.5)

    assert weierstrass(np.array([0.0]))[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("parameters", "match"),
    [({"a": 1.0}, "a=1.0"), ({"a": 0.5, "b": 1.0}, "b=1.0"), ({"n_terms": 0}, "got 0")],
)
def test_weierstrass_invalid_parameters_raise(parameters, match):
    with pytest.raises(ValueError, match=match):
        weierstrass(np.zeros(2), **parameters)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_make_nonsmooth_one_feature_is_target_of_x(name):
    X, y = make_nonsmooth(name, 40, random_state=0)

    np.testing.assert_array_equal(y, REFERENCES[name](X[:, 0]))


def test_make_nonsmooth_shapes():
    X, y = make_nonsmooth("sign", 30, n_features=4, random_state=0)

    assert X.shape == (30, 4)
    assert y.shape == (30,)


def test_make_nonsmooth_dtypes_are_float64():
    X, y = make_nonsmooth("relu", 10, n_features=2, random_state=0)

    assert X.dtype == np.float64
    assert y.dtype == np.float64


def test_make_nonsmooth_several_features_use_mean_direction():
    X, y = make_nonsmooth("piecewise", 50, n_features=3, random_state=0)

    projection = X.sum(axis=1) / np.sqrt(3)
    np.testing.assert_allclose(y, REFERENCES["piecewise"](projection), atol=1e-12)


def test_make_nonsmooth_inputs_lie_in_domain():
    X, _ = make_nonsmooth("sign", 500, n_features=2, domain=(1.0, 3.0), random_state=0)

    assert X.min() >= 1.0
    assert X.max() < 3.0


def test_make_nonsmooth_same_seed_same_data():
    X1, y1 = make_nonsmooth("sawtooth", 20, noise=0.1, random_state=3)
    X2, y2 = make_nonsmooth("sawtooth", 20, noise=0.1, random_state=3)

    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_make_nonsmooth_different_seed_different_data():
    X1, _ = make_nonsmooth("sawtooth", 20, random_state=3)
    X2, _ = make_nonsmooth("sawtooth", 20, random_state=4)

    assert not np.array_equal(X1, X2)


def test_make_nonsmooth_generator_is_reproducible():
    X1, _ = make_nonsmooth("sign", 20, random_state=np.random.default_rng(1))
    X2, _ = make_nonsmooth("sign", 20, random_state=np.random.default_rng(1))

    np.testing.assert_array_equal(X1, X2)


def test_make_nonsmooth_noise_leaves_inputs_unchanged():
    X_clean, _ = make_nonsmooth("sign", 20, random_state=3)
    X_noisy, _ = make_nonsmooth("sign", 20, noise=0.5, random_state=3)

    np.testing.assert_array_equal(X_clean, X_noisy)


def test_make_nonsmooth_noise_has_requested_std():
    X, y = make_nonsmooth("sign", 20000, noise=0.3, random_state=0)

    residual = y - np.sign(X[:, 0])

    assert residual.std() == pytest.approx(0.3, rel=0.03)


def test_make_nonsmooth_zero_noise_is_exact():
    X, y = make_nonsmooth("relu", 100, random_state=0)

    np.testing.assert_array_equal(y, np.maximum(X[:, 0], 0.0))


def test_make_nonsmooth_accepts_callable_target():
    X, y = make_nonsmooth(np.cos, 25, random_state=0)

    np.testing.assert_allclose(y, np.cos(X[:, 0]))


def test_make_nonsmooth_accepts_partial_weierstrass():
    target = functools.partial(weierstrass, a=0.7, b=2.0)

    X, y = make_nonsmooth(target, 25, random_state=0)

    np.testing.assert_allclose(y, weierstrass(X[:, 0], a=0.7, b=2.0))


def test_make_nonsmooth_callable_with_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        make_nonsmooth(np.sum, 10, random_state=0)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"target": "cusp"}, "'cusp'.*'sawtooth'"),
        ({"n_samples": 0}, "n_samples must be an integer >= 1, got 0"),
        ({"n_features": 1.5}, "got 1.5"),
        ({"noise": -0.1}, "got -0.1"),
        ({"noise": float("inf")}, "got inf"),
        ({"domain": (2.0, -2.0)}, r"\(2.0, -2.0\)"),
        ({"domain": (0.0,)}, r"\(0.0,\)"),
        ({"random_state": "seed"}, "'seed'"),
    ],
)
def test_make_nonsmooth_invalid_arguments_raise(arguments, match):
    with pytest.raises(ValueError, match=match):
        make_nonsmooth(**arguments)


def test_make_nonsmooth_non_callable_target_raises():
    with pytest.raises(TypeError, match="got 3"):
        make_nonsmooth(3)


def test_make_grid_shapes():
    X, y = make_grid("sawtooth", 17)

    assert X.shape == (17, 1)
    assert y.shape == (17,)


def test_make_grid_is_sorted_and_spans_domain():
    X, _ = make_grid("sign", 9, domain=(-1.0, 3.0))

    np.testing.assert_array_equal(X[:, 0], np.linspace(-1.0, 3.0, 9))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_make_grid_targets_match_formula(name):
    X, y = make_grid(name, 41)

    np.testing.assert_allclose(y, REFERENCES[name](X[:, 0]), atol=1e-12)


def test_make_grid_unknown_target_raises():
    with pytest.raises(ValueError, match="'cusp'"):
        make_grid("cusp")


def test_make_grid_invalid_domain_raises():
    with pytest.raises(ValueError, match=r"\(1.0, 1.0\)"):
        make_grid("sign", domain=(1.0, 1.0))
