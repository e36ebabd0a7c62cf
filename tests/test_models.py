import copy
import math
import pickle

import numpy as np
import pytest
import torch
from scipy.special import erf
from torch.func import functional_call, stack_module_state, vmap

from sknntk.models import (
    ACTIVATIONS,
    MLP,
    CallableActivation,
    Sign,
    Weierstrass,
    get_activation,
)

# Points on both sides of and exactly at the jumps of the discontinuous
# activations (0 for sign and piecewise, the integers for the periodic ones).
POINTS = np.array(
    [-2.5, -2.0, -1.5, -1.0, -0.75, -1e-12, 0.0, 1e-12, 0.3, 0.5, 1.0, 1.25, 2.0, 3.7]
)


def _square_wave_reference(x):
    # sin(pi * k) is a rounding error rather than 0, so set integers explicitly.
    return np.where(x == np.round(x), 0.0, np.sign(np.sin(np.pi * x)))


def _weierstrass_reference(x, a=0.5, b=3.0, n_terms=8):
    return sum(a**k * np.cos(b**k * np.pi * x) for k in range(n_terms))


NUMPY_FORMULAS = {
    "sign": np.sign,
    "step": np.sign,
    "piecewise": lambda x: np.where(x < 0, x - 1.0, 0.5 * x + 1.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "erf": erf,
    "identity": lambda x: x,
    "square_wave": _square_wave_reference,
    "sawtooth": lambda x: x - np.floor(x),
    "weierstrass": _weierstrass_reference,
}


def _module_level_double(x):
    return 2.0 * x


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_numpy_formula(name):
    activation = get_activation(name)

    output = activation(torch.tensor(POINTS, dtype=torch.float64)).numpy()

    np.testing.assert_allclose(output, NUMPY_FORMULAS[name](POINTS), atol=1e-12)


def test_activations_cover_every_name():
    assert set(ACTIVATIONS) == set(NUMPY_FORMULAS)


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("sign", 0.0, 0.0),
        ("piecewise", 0.0, 1.0),
        ("piecewise", -1e-300, -1.0),
        ("square_wave", 0.0, 0.0),
        ("square_wave", 1.0, 0.0),
        ("square_wave", -3.0, 0.0),
        ("sawtooth", 1.0, 0.0),
        ("sawtooth", -1.0, 0.0),
    ],
)
def test_activation_value_at_discontinuity(name, x, expected):
    output = get_activation(name)(torch.tensor([x], dtype=torch.float64))

    assert output.item() == expected


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_under_vmap_matches_direct_call(name):
    activation = get_activation(name)
    x = torch.linspace(-2.0, 2.0, 12, dtype=torch.float64).reshape(4, 3)

    batched = vmap(activation)(x)

    torch.testing.assert_close(batched, activation(x), rtol=0.0, atol=0.0)


def test_activation_step_is_sign():
    assert isinstance(get_activation("step"), Sign)


def test_weierstrass_custom_parameters_match_formula():
    activation = Weierstrass(a=0.7, b=2.0, n_terms=5)

    output = activation(torch.tensor(POINTS, dtype=torch.float64)).numpy()

    expected = _weierstrass_reference(POINTS, a=0.7, b=2.0, n_terms=5)
    np.testing.assert_allclose(output, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ({"a": 1.5}, "a=1.5"),
        ({"a": 0.0}, "a=0.0"),
        ({"a": 0.5, "b": 1.5}, "b=1.5"),
        ({"n_terms": 0}, "got 0"),
        ({"b": float("nan")}, "nan"),
    ],
)
def test_weierstrass_invalid_parameters_raise(parameters, match):
    with pytest.raises(ValueError, match=match):
        Weierstrass(**parameters)


def test_get_activation_unknown_name_lists_accepted():
    with pytest.raises(ValueError, match="'softsign'.*'square_wave'"):
        get_activation("softsign")


def test_get_activation_returns_module_unchanged():
    module = torch.nn.GELU()

    assert get_activation(module) is module


def test_get_activation_instantiates_module_class():
    assert isinstance(get_activation(torch.nn.SiLU), torch.nn.SiLU)


def test_get_activation_wraps_function():
    activation = get_activation(_module_level_double)
    x = torch.tensor([1.0, -3.0])

    assert isinstance(activation, CallableActivation)
    torch.testing.assert_close(activation(x), 2.0 * x)


def test_get_activation_rejects_non_callable():
    with pytest.raises(TypeError, match="got 3 of type int"):
        get_activation(3)


def test_mlp_output_shape():
    model = MLP(3, hidden_layer_sizes=(7, 5), n_outputs=2, random_state=0)

    output = model(torch.zeros(4, 3, dtype=torch.float64))

    assert output.shape == (4, 2)


def test_mlp_single_sample_shape():
    model = MLP(3, hidden_layer_sizes=(7,), n_outputs=2, random_state=0)

    output = model(torch.zeros(3, dtype=torch.float64))

    assert output.shape == (2,)


def test_mlp_layer_widths():
    model = MLP(3, hidden_layer_sizes=(7, 5), n_outputs=2, random_state=0)

    shapes = [tuple(layer.weight.shape) for layer in model.layers]

    assert shapes == [(7, 3), (5, 7), (2, 5)]


def test_mlp_int_hidden_layer_size_is_one_layer():
    model = MLP(3, hidden_layer_sizes=4, random_state=0)

    assert model.hidden_layer_sizes == (4,)


def test_mlp_without_hidden_layers_is_affine():
    model = MLP(2, hidden_layer_sizes=(), activation="sign", random_state=0)
    X = torch.tensor([[1.0, 2.0], [-0.5, 3.0]], dtype=torch.float64)

    layer = model.layers[0]
    expected = X @ layer.weight.T + layer.bias
    torch.testing.assert_close(model(X), expected)


def test_mlp_without_bias_has_no_bias_parameters():
    model = MLP(3, hidden_layer_sizes=(4,), bias=False, random_state=0)

    names = [name for name, _ in model.named_parameters()]

    assert names == ["layers.0.weight", "layers.1.weight"]


def test_mlp_applies_no_activation_after_last_layer():
    # A sign activation after the last layer would give outputs in {-1, 0, 1}.
    model = MLP(2, hidden_layer_sizes=(8,), activation="sign", random_state=0)
    X = torch.randn(
        20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )

    output = model(X)

    assert not torch.all(
        torch.isin(output, torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    )


def test_mlp_same_random_state_same_parameters():
    first = MLP(3, hidden_layer_sizes=(6,), random_state=42)
    second = MLP(3, hidden_layer_sizes=(6,), random_state=42)

    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_mlp_different_random_state_different_parameters():
    first = MLP(3, hidden_layer_sizes=(6,), random_state=0)
    second = MLP(3, hidden_layer_sizes=(6,), random_state=1)

    assert not torch.equal(first.layers[0].weight, second.layers[0].weight)


def test_mlp_generator_random_state_is_reproducible():
    first = MLP(3, random_state=np.random.default_rng(5))
    second = MLP(3, random_state=np.random.default_rng(5))

    assert torch.equal(first.layers[0].weight, second.layers[0].weight)


def test_mlp_randomstate_instance_is_reproducible():
    first = MLP(3, random_state=np.random.RandomState(5))
    second = MLP(3, random_state=np.random.RandomState(5))

    assert torch.equal(first.layers[0].weight, second.layers[0].weight)


@pytest.mark.parametrize("random_state", [None, 0, np.random.default_rng(0)])
def test_mlp_construction_keeps_torch_rng_state(random_state):
    before = torch.random.get_rng_state()

    MLP(3, hidden_layer_sizes=(16,), random_state=random_state)

    assert torch.equal(torch.random.get_rng_state(), before)


def test_mlp_standard_weights_have_lecun_variance():
    model = MLP(400, hidden_layer_sizes=(500,), random_state=0)

    weight_std = model.layers[0].weight.std().item()

    assert weight_std == pytest.approx(1.0 / math.sqrt(400), rel=0.02)


def test_mlp_standard_biases_have_bias_scale_std():
    model = MLP(4, hidden_layer_sizes=(20000,), random_state=0)

    bias_std = model.layers[0].bias.std().item()

    assert bias_std == pytest.approx(0.1, rel=0.03)


def test_mlp_ntk_parameters_have_unit_variance():
    model = MLP(400, hidden_layer_sizes=(500,), parameterization="ntk", random_state=0)

    weight_std = model.layers[0].weight.std().item()

    assert weight_std == pytest.approx(1.0, rel=0.02)


def test_mlp_ntk_weights_are_standard_times_sqrt_fan_in():
    standard = MLP(5, hidden_layer_sizes=(8,), random_state=3)
    ntk = MLP(5, hidden_layer_sizes=(8,), parameterization="ntk", random_state=3)

    for layer_standard, layer_ntk in zip(standard.layers, ntk.layers):
        scale = math.sqrt(layer_standard.in_features)
        torch.testing.assert_close(layer_ntk.weight / scale, layer_standard.weight)


def test_mlp_ntk_biases_are_standard_over_bias_scale():
    standard = MLP(5, hidden_layer_sizes=(8,), random_state=3)
    ntk = MLP(5, hidden_layer_sizes=(8,), parameterization="ntk", random_state=3)

    for layer_standard, layer_ntk in zip(standard.layers, ntk.layers):
        torch.testing.assert_close(0.1 * layer_ntk.bias, layer_standard.bias)


def test_mlp_ntk_and_standard_agree_at_initialization():
    X = torch.randn(
        6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    standard = MLP(5, hidden_layer_sizes=(8, 8), activation="tanh", random_state=3)
    ntk = MLP(
        5,
        hidden_layer_sizes=(8, 8),
        activation="tanh",
        parameterization="ntk",
        random_state=3,
    )

    torch.testing.assert_close(ntk(X), standard(X))


def test_mlp_ntk_weight_gradient_scales_by_inverse_sqrt_fan_in():
    X = torch.randn(
        6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    standard = MLP(5, hidden_layer_sizes=(8,), activation="tanh", random_state=3)
    ntk = MLP(
        5,
        hidden_layer_sizes=(8,),
        activation="tanh",
        parameterization="ntk",
        random_state=3,
    )

    standard(X).sum().backward()
    ntk(X).sum().backward()

    for layer_standard, layer_ntk in zip(standard.layers, ntk.layers):
        scale = math.sqrt(layer_standard.in_features)
        torch.testing.assert_close(
            layer_ntk.weight.grad * scale, layer_standard.weight.grad
        )


def test_mlp_ntk_bias_gradient_scales_by_bias_scale():
    X = torch.randn(
        6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    standard = MLP(5, hidden_layer_sizes=(8,), activation="tanh", random_state=3)
    ntk = MLP(
        5,
        hidden_layer_sizes=(8,),
        activation="tanh",
        parameterization="ntk",
        random_state=3,
    )

    standard(X).sum().backward()
    ntk(X).sum().backward()

    for layer_standard, layer_ntk in zip(standard.layers, ntk.layers):
        torch.testing.assert_close(layer_ntk.bias.grad, 0.1 * layer_standard.bias.grad)


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
@pytest.mark.parametrize("activation", ["relu", "piecewise", "weierstrass"])
def test_mlp_vmap_over_parameter_sets_matches_loop(activation, parameterization):
    models = [
        MLP(
            3,
            hidden_layer_sizes=(8, 4),
            activation=activation,
            parameterization=parameterization,
            random_state=seed,
        )
        for seed in range(3)
    ]
    params, buffers = stack_module_state(models)
    X = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )

    def call(params, buffers):
        return functional_call(models[0], (params, buffers), (X,))

    batched = vmap(call)(params, buffers)

    expected = torch.stack([model(X) for model in models])
    torch.testing.assert_close(batched, expected, rtol=1e-12, atol=1e-12)


def test_mlp_vmap_over_samples_matches_batch():
    model = MLP(3, hidden_layer_sizes=(8,), random_state=0)
    X = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )

    per_sample = vmap(model)(X)

    torch.testing.assert_close(per_sample, model(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_pickle_round_trip_gives_identical_output(activation):
    model = MLP(2, hidden_layer_sizes=(6,), activation=activation, random_state=0)
    X = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).reshape(4, 2)

    restored = pickle.loads(pickle.dumps(model))

    assert torch.equal(restored(X), model(X))


def test_mlp_deepcopy_gives_identical_output():
    model = MLP(2, hidden_layer_sizes=(6,), activation="weierstrass", random_state=0)
    X = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).reshape(4, 2)

    copied = copy.deepcopy(model)

    assert torch.equal(copied(X), model(X))


def test_mlp_forward_leaves_input_unchanged():
    model = MLP(2, hidden_layer_sizes=(6,), random_state=0)
    X = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).reshape(4, 2)
    original = X.clone()

    model(X)

    assert torch.equal(X, original)


def test_mlp_float32_dtype():
    model = MLP(2, hidden_layer_sizes=(6,), dtype="float32", random_state=0)

    output = model(torch.zeros(3, 2))

    assert output.dtype == torch.float32


def test_mlp_converts_numpy_input():
    model = MLP(2, hidden_layer_sizes=(6,), random_state=0)
    X = np.zeros((3, 2))

    torch.testing.assert_close(model(X), model(torch.zeros(3, 2, dtype=torch.float64)))


def test_mlp_stores_constructor_arguments():
    model = MLP(2, hidden_layer_sizes=[6, 3], n_outputs=4, parameterization="ntk")

    assert model.n_features == 2
    assert model.hidden_layer_sizes == (6, 3)
    assert model.n_outputs == 4
    assert model.parameterization == "ntk"


def test_mlp_repr_shows_arguments():
    model = MLP(2, hidden_layer_sizes=(6,), activation="sawtooth", random_state=7)

    assert repr(model) == (
        "MLP(n_features=2, hidden_layer_sizes=(6,), activation=Sawtooth(), "
        "n_outputs=1, parameterization='standard', bias=True, random_state=7, "
        "dtype=torch.float64, bias_scale=0.1)"
    )


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"n_features": 0}, "n_features must be an integer >= 1, got 0"),
        ({"n_features": 2.5}, "got 2.5"),
        ({"n_features": 2, "hidden_layer_sizes": (4, 0)}, r"\(4, 0\)"),
        ({"n_features": 2, "hidden_layer_sizes": (4, True)}, "True"),
        ({"n_features": 2, "n_outputs": -1}, "got -1"),
        ({"n_features": 2, "parameterization": "xavier"}, "'xavier'"),
        ({"n_features": 2, "bias_scale": -0.1}, "got -0.1"),
        ({"n_features": 2, "dtype": torch.int64}, "torch.int64"),
        ({"n_features": 2, "random_state": "seed"}, "'seed'"),
        ({"n_features": 2, "activation": "softsign"}, "'softsign'"),
    ],
)
def test_mlp_invalid_arguments_raise(arguments, match):
    with pytest.raises(ValueError, match=match):
        MLP(**arguments)


def test_mlp_non_iterable_hidden_layer_sizes_raise():
    with pytest.raises(TypeError, match="got 2.0"):
        MLP(2, hidden_layer_sizes=2.0)


def test_mlp_forward_wrong_feature_count_raises():
    model = MLP(3, hidden_layer_sizes=(4,), random_state=0)

    with pytest.raises(ValueError, match=r"got shape \(5, 2\)"):
        model(torch.zeros(5, 2, dtype=torch.float64))
