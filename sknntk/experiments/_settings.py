"""Problem sizes of the reproduction run, full and quick."""

import dataclasses

# Activations of the hidden layer in the heatmap figures, in the order of the
# appendix of "Nonlocal Neural Tangent Kernels via Parameter-Space Interactions".
HEATMAP_ACTIVATIONS = ("sign", "piecewise", "relu", "square_wave", "weierstrass")
SPECTRUM_ACTIVATIONS = ("sign", "relu", "weierstrass")
ALIGNMENT_ACTIVATIONS = ("sign", "relu")
# Hidden activation of the network trained by gradient descent, a smooth
# surrogate of the step network trained by nonlocal gradient descent.
TRAINING_SURROGATE_ACTIVATION = "tanh"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Sizes, grids and seeds of one reproduction run.

    Every network is an MLP with one hidden layer of ``hidden_width`` units on
    float64 parameters. Monte Carlo kernels use the library defaults
    (antithetic sampler, ``normalize=True``) unless a field sets otherwise.
    """

    quick: bool
    seed: int
    n_jobs: int
    domain: tuple = (-2.0, 2.0)
    hidden_width: int = 256
    gamma: float = 0.1

    # Kernel heatmaps on a 1-D grid.
    heatmap_points: int = 200
    heatmap_n_samples: int = 512

    # Spectrum convergence: kernels for each N against an independent
    # reference estimate with more samples.
    spectrum_points: int = 150
    spectrum_n_samples: tuple = (16, 64, 256, 1024)
    spectrum_reference_n_samples: int = 8192
    spectrum_top_eigenvalues: int = 10

    # Kernel-target alignment for the sign target.
    alignment_points: int = 200
    alignment_gammas: tuple = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    alignment_gamma_n_samples: int = 512
    alignment_n_samples: tuple = (16, 64, 256, 1024, 4096)

    # Alignment over training steps, on the alignment grid with the mean
    # squared error. Both networks take the same number of full-batch steps.
    # With these learning rates both losses fell at the full size (seeds 0 to
    # 2) and the quick size (seeds 0 to 5). Wider networks of the standard
    # parameterization have a stiffer output layer and need smaller rates.
    training_steps: int = 400
    training_record_every: int = 20
    training_kernel_n_samples: int = 256
    training_adam_learning_rate: float = 0.01
    training_nonlocal_learning_rate: float = 0.001
    training_nonlocal_n_samples: int = 64

    # Regression and classification on held-out data. Every grid-search
    # candidate refits the kernel, so these networks are narrower.
    model_hidden_width: int = 128
    regression_rows: int = 240
    regression_noise: float = 0.1
    test_size: float = 0.25
    cv_folds: int = 3
    model_n_samples: int = 256
    diabetes_rows: int | None = None
    digits_rows: int = 600
    alpha_grid_nonlocal: tuple = (1.0, 10.0, 100.0)
    gamma_grid_nonlocal: tuple = (0.05, 0.2)
    alpha_grid_attention: tuple = (1.0, 10.0)
    # "gamma" is the default temperature tau = gamma, "median" the median rule.
    temperature_grid_attention: tuple = ("gamma", "median")
    alpha_grid_ntk: tuple = (0.1, 1.0, 10.0, 100.0)
    alpha_grid_rbf: tuple = (0.001, 0.01, 0.1)
    gamma_grid_rbf: tuple = (0.3, 3.0, 30.0)
    c_grid_svc: tuple = (1.0, 10.0, 100.0)

    def as_dict(self):
        """Return the settings as a dictionary of JSON-compatible values."""
        return {
            field.name: _jsonable(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return value


def make_settings(*, quick=False, seed=0, n_jobs=1):
    """Build the settings of a full run, or of a quick run at small sizes.

    The quick run takes the same steps with narrower networks and fewer grid
    points, samples, rows and grid-search candidates. It checks that every
    step runs, and its numbers are too noisy to compare kernels.
    """
    settings = Settings(quick=bool(quick), seed=int(seed), n_jobs=int(n_jobs))
    if not quick:
        return settings
    return dataclasses.replace(
        settings,
        hidden_width=64,
        model_hidden_width=64,
        heatmap_points=30,
        heatmap_n_samples=64,
        spectrum_points=30,
        spectrum_n_samples=(16, 64),
        spectrum_reference_n_samples=256,
        alignment_points=30,
        alignment_gammas=(0.01, 0.1, 1.0),
        alignment_gamma_n_samples=64,
        alignment_n_samples=(16, 64),
        training_steps=40,
        training_record_every=10,
        training_kernel_n_samples=64,
        training_nonlocal_n_samples=16,
        regression_rows=60,
        cv_folds=2,
        model_n_samples=64,
        diabetes_rows=120,
        digits_rows=200,
        alpha_grid_nonlocal=(1.0, 10.0),
        gamma_grid_nonlocal=(0.1,),
        alpha_grid_attention=(1.0,),
        temperature_grid_attention=("median",),
        alpha_grid_ntk=(1.0, 10.0),
        alpha_grid_rbf=(0.01, 0.1),
        gamma_grid_rbf=(3.0,),
        c_grid_svc=(10.0,),
    )
