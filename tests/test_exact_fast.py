"""The factored and generic exact NTK paths against each other and a reference.

The reference builds the Jacobian of each row with
``torch.autograd.functional.jacobian`` over the module's own parameters and
contracts it, so it shares no code with the library's paths.
"""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from sknntk._exact import choose_generic_method, exact_ntk
from sknntk._functional import FunctionalModel
from sknntk._structured import plan_structured

RTOL = 1e-10


def _reference_ntk(module, X, Y):
    """Return ``sum_j grad f_j(x) . grad f_j(y)`` from per-row autograd Jacobians."""
    module = module.eval()
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    params = tuple(p.detach() for _, p in named)

    def row_jacobian(x):
        def output(*values):
            return functional_call(module, dict(zip(names, values)), (x[None],))

        parts = torch.autograd.functional.jacobian(output, params)
        return torch.cat([part.reshape(-1, 1, part[0].numel()) for part in parts], 2)

    J_X = torch.cat([row_jacobian(x) for x in X])
    J_Y = torch.cat([row_jacobian(y) for y in Y])
    return torch.einsum("amd,bmd->ab", J_X, J_Y).numpy()


def _assert_close(actual, expected, rtol=RTOL):
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


def _factored_layers(fmodel, X):
    return [layer.module_name for layer in plan_structured(fmodel, X).layers]


class ScaledNorm(torch.nn.Module):
    """Linear, LayerNorm and a trainable output scale that is not in any layer."""

    def __init__(self, n_features, width, n_outputs):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, width)
        self.norm = torch.nn.LayerNorm(width)
        self.out = torch.nn.Linear(width, n_outputs)
        self.scale = torch.nn.Parameter(torch.tensor([1.5]))

    def forward(self, x):
        return self.scale * self.out(torch.tanh(self.norm(self.hidden(x))))


class ConvThenLinear(torch.nn.Module):
    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 3, kernel_size=2)
        self.out = torch.nn.Linear(3 * (n_features - 1), n_outputs)

    def forward(self, x):
        hidden = torch.tanh(self.conv(x[:, None, :]))
        return self.out(hidden.flatten(1))


class SharedWeight(torch.nn.Module):
    """Two layers that register the same weight parameter."""

    def __init__(self, width, n_outputs):
        super().__init__()
        self.first = torch.nn.Linear(width, width)
        self.second = torch.nn.Linear(width, width)
        self.second.weight = self.first.weight
        self.out = torch.nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.out(torch.tanh(self.second(torch.tanh(self.first(x)))))


class ReusedOutsideLayer(torch.nn.Module):
    """A layer whose weight is also used by ``F.linear`` outside the layer."""

    def __init__(self, width, n_outputs):
        super().__init__()
        self.hidden = torch.nn.Linear(width, width)
        self.out = torch.nn.Linear(width, n_outputs)

    def forward(self, x):
        h = torch.tanh(self.hidden(x))
        h = torch.tanh(torch.nn.functional.linear(h, self.hidden.weight))
        return self.out(h)


class CenteredRows(torch.nn.Module):
    """Multiplies by the batch mean, so the rows of a batch interact."""

    def __init__(self, n_features):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, 6)
        self.out = torch.nn.Linear(6, 1)

    def forward(self, x):
        h = torch.tanh(self.hidden(x))
        return self.out(h * h.mean(0, keepdim=True))


class ItemScale(torch.nn.Module):
    """Calls ``.item()``, which ``torch.func.vmap`` rejects."""

    def __init__(self, n_features):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, 5)
        self.out = torch.nn.Linear(5, 1)

    def forward(self, x):
        h = torch.tanh(self.hidden(x))
        scale = 0.5 if h.abs().max().item() > 1e6 else 2.0
        return scale * self.out(h)


def _mlp(n_features, n_outputs):
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, n_outputs),
    )


def _same_layer_twice(n_features, n_outputs):
    shared = torch.nn.Linear(5, 5)
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 5),
        torch.nn.Tanh(),
        shared,
        torch.nn.Tanh(),
        shared,
        torch.nn.Tanh(),
        torch.nn.Linear(5, n_outputs),
    )


def _frozen_parts(n_features, n_outputs):
    model = _mlp(n_features, n_outputs)
    model[0].requires_grad_(False)
    model[2].weight.requires_grad_(False)
    return model


def _batch_norm(n_features, n_outputs):
    model = torch.nn.Sequential(
        torch.nn.Linear(n_features, 6),
        torch.nn.BatchNorm1d(6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, n_outputs),
    )
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(2.0 * torch.randn(16, n_features) + 1.0)
    return model.eval()


# (builder, names of the layers expected to be factored)
NETWORKS = {
    "mlp": (_mlp, ["0", "2", "4"]),
    "layer_norm_scale": (lambda p, m: ScaledNorm(p, 6, m), ["hidden", "out"]),
    "conv_then_linear": (ConvThenLinear, ["out"]),
    "same_layer_twice": (_same_layer_twice, ["0", "6"]),
    "shared_weight": (lambda p, m: SharedWeight(p, m), ["out"]),
    "reused_outside_layer": (lambda p, m: ReusedOutsideLayer(p, m), ["out"]),
    "frozen_parts": (_frozen_parts, ["2", "4"]),
    "batch_norm_eval": (_batch_norm, ["0", "3"]),
}


def _network(name, n_features, n_outputs, dtype=torch.float64):
    torch.manual_seed(0)
    builder, expected = NETWORKS[name]
    return builder(n_features, n_outputs).to(dtype), expected


def _data(n_rows, n_features, seed, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_rows, n_features, generator=generator, dtype=dtype)


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_factored_matches_generic_and_reference(name, n_outputs):
    n_features = 4
    module, expected_layers = _network(name, n_features, n_outputs)
    X, Y = _data(9, n_features, 1), _data(5, n_features, 2)
    fmodel = FunctionalModel(module, torch.float64)

    assert _factored_layers(fmodel, X) == expected_layers
    for A, B in [(X, X), (X, Y)]:
        factored = exact_ntk(fmodel, A, B, None)
        generic = exact_ntk(fmodel, A, B, None, structured=False)
        reference = _reference_ntk(module, A, B)
        assert factored.shape == (A.shape[0], B.shape[0])
        assert factored.dtype == np.float64
        _assert_close(factored, generic)
        _assert_close(factored, reference)


def test_factored_matches_generic_float32():
    module, _ = _network("layer_norm_scale", 4, 3, dtype=torch.float32)
    X = _data(12, 4, 3, dtype=torch.float32)
    fmodel = FunctionalModel(module, torch.float32)

    factored = exact_ntk(fmodel, X, X, None)
    generic = exact_ntk(fmodel, X, X, None, structured=False)

    assert factored.dtype == np.float32
    _assert_close(factored, generic, rtol=1e-5)


def test_rows_that_interact_use_generic_path():
    torch.manual_seed(0)
    module = CenteredRows(3).double()
    X = _data(8, 3, 4)
    fmodel = FunctionalModel(module, torch.float64)

    assert _factored_layers(fmodel, X) == []
    _assert_close(exact_ntk(fmodel, X, X, None), _reference_ntk(module, X, X))


def test_item_call_falls_back_to_autograd():
    torch.manual_seed(0)
    module = ItemScale(3).double()
    X, Y = _data(6, 3, 5), _data(4, 3, 6)
    reference = _reference_ntk(module, X, Y)

    for options in [
        {},
        {"structured": False},
        {"structured": False, "generic": "ntk-vp"},
    ]:
        fmodel = FunctionalModel(module, torch.float64)
        _assert_close(exact_ntk(fmodel, X, Y, None, **options), reference)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_ntk_vector_products_match_contraction(n_outputs):
    module, _ = _network("layer_norm_scale", 4, n_outputs)
    X, Y = _data(10, 4, 7), _data(6, 4, 8)
    fmodel = FunctionalModel(module, torch.float64)
    # Just less than one row of Jacobian, with the overhead factor of 4.
    budget = 4 * n_outputs * fmodel.n_params * 8 - 1

    assert choose_generic_method(fmodel, fmodel.n_params, n_outputs) == "contraction"
    assert choose_generic_method(fmodel, fmodel.n_params, n_outputs, budget) == (
        "ntk-vp"
    )
    for A, B in [(X, X), (X, Y)]:
        contraction = exact_ntk(fmodel, A, B, None, structured=False)
        products = exact_ntk(fmodel, A, B, None, structured=False, budget=budget)
        _assert_close(products, contraction)


def test_small_chunks_without_cache_match():
    module, _ = _network("conv_then_linear", 4, 2)
    X, Y = _data(11, 4, 9), _data(7, 4, 10)
    fmodel = FunctionalModel(module, torch.float64)

    for A, B in [(X, X), (X, Y)]:
        expected = exact_ntk(fmodel, A, B, None)
        _assert_close(exact_ntk(fmodel, A, B, 3, cache_Y=False), expected)
        _assert_close(exact_ntk(fmodel, A, B, 4, budget=1), expected)


@pytest.mark.parametrize("options", [{}, {"structured": False}])
def test_linear_model_ntk_is_inner_product(options):
    generator = torch.Generator().manual_seed(0)
    module = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        module.weight.copy_(torch.randn(1, 3, generator=generator).double())
    X, Y = _data(7, 3, 11), _data(4, 3, 12)
    fmodel = FunctionalModel(module, torch.float64)

    np.testing.assert_allclose(
        exact_ntk(fmodel, X, X, None, **options), (X @ X.T).numpy(), atol=1e-10
    )
    np.testing.assert_allclose(
        exact_ntk(fmodel, X, Y, None, **options), (X @ Y.T).numpy(), atol=1e-10
    )


def test_empty_rows_give_empty_gram():
    module, _ = _network("mlp", 4, 1)
    fmodel = FunctionalModel(module, torch.float64)

    K = exact_ntk(fmodel, _data(0, 4, 0), _data(3, 4, 0), None)

    assert K.shape == (0, 3)


def test_unknown_generic_method_raises():
    module, _ = _network("mlp", 4, 1)
    fmodel = FunctionalModel(module, torch.float64)
    X = _data(2, 4, 0)

    with pytest.raises(ValueError, match="generic must be one of"):
        exact_ntk(fmodel, X, X, None, generic="dense")
