import numpy as np
import pytest
import torch

from sknntk.diagnostics import (
    alignment,
    centered_alignment,
    condition_number,
    effective_rank,
    kernel_summary,
    spectrum,
)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def gram(rng):
    features = rng.normal(size=(8, 12))
    return features @ features.T


@pytest.fixture
def targets(rng):
    return rng.normal(size=8)


def _centered_alignment_reference(K, y):
    # Direct formula with the centering matrix H = I - 11^T / n.
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K_centered = H @ K @ H
    target_gram = H @ np.outer(y, y) @ H
    numerator = np.sum(K_centered * target_gram)
    return numerator / (np.linalg.norm(K_centered) * np.linalg.norm(target_gram))


def test_alignment_of_target_outer_product_is_one(targets):
    K = np.outer(targets, targets)

    assert alignment(K, targets) == pytest.approx(1.0)


def test_alignment_matches_formula(gram, targets):
    expected = targets @ gram @ targets / (np.linalg.norm(gram) * targets @ targets)

    assert alignment(gram, targets) == pytest.approx(expected)


@pytest.mark.parametrize("scale", [1e-6, 0.5, 3.0, 1e8])
def test_alignment_invariant_to_kernel_scale(gram, targets, scale):
    assert alignment(scale * gram, targets) == pytest.approx(alignment(gram, targets))


def test_alignment_invariant_to_target_scale(gram, targets):
    assert alignment(gram, -4.0 * targets) == pytest.approx(alignment(gram, targets))


def test_alignment_of_negated_kernel_is_negated(gram, targets):
    assert alignment(-gram, targets) == pytest.approx(-alignment(gram, targets))


def test_alignment_two_columns_matches_trace_formula(gram, rng):
    Y = rng.normal(size=(8, 2))

    expected = np.trace(Y.T @ gram @ Y) / (np.linalg.norm(gram) * np.sum(Y**2))

    assert alignment(gram, Y) == pytest.approx(expected)


def test_alignment_column_vector_equals_1d(gram, targets):
    assert alignment(gram, targets[:, None]) == pytest.approx(alignment(gram, targets))


def test_alignment_accepts_torch_tensors(gram, targets):
    K = torch.tensor(gram, requires_grad=True)
    y = torch.tensor(targets, dtype=torch.float32)

    expected = alignment(gram, targets.astype(np.float32))

    assert alignment(K, y) == pytest.approx(expected)


def test_alignment_leaves_inputs_unchanged(gram, targets):
    K_original = gram.copy()
    y_original = targets.copy()

    alignment(gram, targets, centered=True)

    np.testing.assert_array_equal(gram, K_original)
    np.testing.assert_array_equal(targets, y_original)


def test_centered_alignment_matches_direct_formula(gram, targets):
    expected = _centered_alignment_reference(gram, targets)

    assert centered_alignment(gram, targets) == pytest.approx(expected)


def test_centered_alignment_equals_keyword_form(gram, targets):
    assert centered_alignment(gram, targets) == alignment(gram, targets, centered=True)


def test_centered_alignment_ignores_constant_offsets(gram, targets):
    shifted = centered_alignment(gram + 10.0, targets + 3.0)

    assert shifted == pytest.approx(centered_alignment(gram, targets))


def test_centered_alignment_differs_from_uncentered(gram, targets):
    uncentered = alignment(gram + 10.0, targets)
    centered = centered_alignment(gram + 10.0, targets)

    assert abs(uncentered - centered) > 1e-3


def test_centered_alignment_two_columns_matches_direct_formula(gram, rng):
    Y = rng.normal(size=(8, 2))
    n = 8
    H = np.eye(n) - np.ones((n, n)) / n
    K_centered = H @ gram @ H
    target_gram = H @ Y @ Y.T @ H
    expected = np.sum(K_centered * target_gram) / (
        np.linalg.norm(K_centered) * np.linalg.norm(target_gram)
    )

    assert centered_alignment(gram, Y) == pytest.approx(expected)


def test_alignment_zero_kernel_raises(targets):
    with pytest.raises(ValueError, match="norm of K is 0.0"):
        alignment(np.zeros((8, 8)), targets)


def test_alignment_zero_targets_raise(gram):
    with pytest.raises(ValueError, match="norm of y is 0.0"):
        alignment(gram, np.zeros(8))


def test_centered_alignment_constant_targets_raise(gram):
    with pytest.raises(ValueError, match="centered y"):
        centered_alignment(gram, np.full(8, 0.1))


def test_centered_alignment_constant_kernel_raises(targets):
    with pytest.raises(ValueError, match="centered K"):
        centered_alignment(np.full((8, 8), 0.3), targets)


@pytest.mark.parametrize(
    ("K", "match"),
    [
        (np.ones((3, 4)), r"got shape \(3, 4\)"),
        (np.ones(3), r"got shape \(3,\)"),
        (np.ones((0, 0)), r"got shape \(0, 0\)"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), r"shape \(2, 2\) with NaN"),
    ],
)
def test_alignment_invalid_kernel_raises(K, match):
    with pytest.raises(ValueError, match=match):
        alignment(K, np.ones(K.shape[0] if K.ndim else 1))


def test_alignment_mismatched_targets_raise(gram):
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        alignment(gram, np.ones(5))


def test_alignment_infinite_targets_raise(gram):
    y = np.ones(8)
    y[2] = np.inf

    with pytest.raises(ValueError, match="y must be finite"):
        alignment(gram, y)


def test_spectrum_is_descending(gram):
    eigenvalues = spectrum(gram)

    assert np.all(np.diff(eigenvalues) <= 0)


def test_spectrum_matches_numpy_eigvalsh_reversed(gram):
    np.testing.assert_allclose(spectrum(gram), np.linalg.eigvalsh(gram)[::-1])


def test_spectrum_uses_symmetric_part(gram, rng):
    asymmetric = gram + np.triu(rng.normal(size=gram.shape), 1)

    expected = np.linalg.eigvalsh((asymmetric + asymmetric.T) / 2)[::-1]

    np.testing.assert_allclose(spectrum(asymmetric), expected)


def test_spectrum_shape(gram):
    assert spectrum(gram).shape == (8,)


def test_spectrum_non_square_raises():
    with pytest.raises(ValueError, match=r"got shape \(2, 3\)"):
        spectrum(np.ones((2, 3)))


@pytest.mark.parametrize("n", [1, 5, 20])
def test_effective_rank_of_identity_is_n(n):
    assert effective_rank(np.eye(n)) == pytest.approx(n)


def test_effective_rank_of_rank_one_matrix_is_one(targets):
    assert effective_rank(np.outer(targets, targets)) == pytest.approx(1.0)


def test_effective_rank_matches_entropy_formula():
    eigenvalues = np.array([4.0, 2.0, 1.0, 1.0])

    p = eigenvalues / eigenvalues.sum()
    expected = np.exp(-np.sum(p * np.log(p)))

    assert effective_rank(eigenvalues) == pytest.approx(expected)


def test_effective_rank_matrix_equals_its_eigenvalues(gram):
    assert effective_rank(gram) == pytest.approx(effective_rank(spectrum(gram)))


def test_effective_rank_ignores_negative_eigenvalues():
    assert effective_rank(np.array([1.0, 1.0, -1e-17])) == pytest.approx(2.0)


def test_effective_rank_zero_matrix_raises():
    with pytest.raises(ValueError, match="without a positive eigenvalue"):
        effective_rank(np.zeros((3, 3)))


def test_effective_rank_three_dimensional_input_raises():
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        effective_rank(np.ones((2, 2, 2)))


def test_effective_rank_non_finite_eigenvalues_raise():
    with pytest.raises(ValueError, match=r"shape \(2,\) with NaN"):
        effective_rank(np.array([1.0, np.nan]))


def test_condition_number_of_diagonal_matrix():
    assert condition_number(np.diag([4.0, -2.0, 0.5])) == pytest.approx(8.0)


def test_condition_number_matches_numpy_cond(gram):
    assert condition_number(gram) == pytest.approx(np.linalg.cond(gram))


def test_condition_number_singular_matrix_is_inf():
    assert condition_number(np.diag([1.0, 0.0])) == np.inf


def test_kernel_summary_keys_without_targets(gram):
    summary = kernel_summary(gram)

    assert set(summary) == {
        "n_samples",
        "trace",
        "frobenius_norm",
        "max_eigenvalue",
        "min_eigenvalue",
        "effective_rank",
        "condition_number",
    }


def test_kernel_summary_adds_alignments_with_targets(gram, targets):
    summary = kernel_summary(gram, targets)

    assert summary["alignment"] == alignment(gram, targets)
    assert summary["centered_alignment"] == centered_alignment(gram, targets)


def test_kernel_summary_values_match_functions(gram):
    summary = kernel_summary(gram)

    assert summary["n_samples"] == 8
    assert summary["trace"] == pytest.approx(np.trace(gram))
    assert summary["max_eigenvalue"] == pytest.approx(spectrum(gram)[0])
    assert summary["min_eigenvalue"] == pytest.approx(spectrum(gram)[-1])
    assert summary["effective_rank"] == pytest.approx(effective_rank(gram))
    assert summary["condition_number"] == pytest.approx(condition_number(gram))
