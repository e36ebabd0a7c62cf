"""Time leave-one-out penalty selection against 5-fold grid search.

Both methods choose the ridge penalty of kernel ridge regression from the same
10 penalties on one precomputed Monte Carlo nonlocal NTK Gram matrix of the
``"sign"`` target. ``loo_dual`` needs one eigendecomposition of the
``(n, n)`` Gram matrix, while ``GridSearchCV(KernelRidge(kernel="precomputed"),
cv=5)`` solves 50 systems of ``0.8 n`` rows and refits once on all rows. Both
return the fitted dual coefficients at the chosen penalty, so the times
compare like with like. The Gram matrix is computed once, outside both timings.
The LOO MSE column is the leave-one-out error at each chosen penalty.

Run ``python benchmarks/bench_loo_alpha.py`` (``--quick`` for 300 rows). The
times depend on the BLAS threads and on other load on the machine.
"""

import argparse
import time

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold

from sknntk import NonlocalNTKKernel
from sknntk._loo import loo_dual
from sknntk.datasets import make_nonsmooth

ALPHAS = np.logspace(-3, 2, 10)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=2000, help="number of training rows (default 2000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="use 300 rows, for a smoke test"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    n_rows = 300 if args.quick else args.n
    X, y = make_nonsmooth("sign", n_rows, n_features=4, noise=0.1, random_state=0)

    start = time.perf_counter()
    kernel = NonlocalNTKKernel(hidden_layer_sizes=(64,), n_samples=128, random_state=0)
    K = kernel.fit_transform(X)
    kernel_seconds = time.perf_counter() - start
    print(f"rows: {n_rows}, Gram matrix: {kernel_seconds:.2f} s (computed once)")
    print(f"alphas: {np.array2string(ALPHAS, precision=3)}")

    start = time.perf_counter()
    loo = loo_dual(K, y, ALPHAS)
    loo_seconds = time.perf_counter() - start

    search = GridSearchCV(
        KernelRidge(kernel="precomputed"),
        {"alpha": ALPHAS},
        cv=KFold(5, shuffle=True, random_state=0),
        scoring="neg_mean_squared_error",
    )
    start = time.perf_counter()
    search.fit(K, y)
    search_seconds = time.perf_counter() - start
    search_alpha = search.best_params_["alpha"]
    search_index = int(np.flatnonzero(ALPHAS == search_alpha)[0])

    print(f"{'method':<28}{'seconds':>9}{'alpha':>10}{'LOO MSE':>11}")
    print(
        f"{'leave-one-out (loo_dual)':<28}{loo_seconds:>9.2f}"
        f"{loo.alpha_:>10.3g}{loo.loo_errors_[loo.best_index_]:>11.4f}"
    )
    print(
        f"{'GridSearchCV, 5 folds':<28}{search_seconds:>9.2f}"
        f"{search_alpha:>10.3g}{loo.loo_errors_[search_index]:>11.4f}"
    )
    print(
        f"speed ratio (grid search / leave-one-out): "
        f"{search_seconds / loo_seconds:.1f}x"
    )


if __name__ == "__main__":
    main()
