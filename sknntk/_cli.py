"""The ``sknntk`` command line."""

import argparse
import contextlib
import logging
import os
import pathlib
import sys

from sknntk import __version__


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a nonzero integer, got {text!r}"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "expected a nonzero integer, got 0. Use 1 for no parallelism or -1 "
            "for one worker per CPU"
        )
    return value


def build_parser():
    """Build the argument parser of the ``sknntk`` command."""
    parser = argparse.ArgumentParser(
        prog="sknntk",
        description=(
            "Neural tangent kernels of PyTorch models for scikit-learn, including "
            "the Monte Carlo nonlocal NTK."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    reproduce = commands.add_parser(
        "reproduce",
        help="recompute the kernel figures and the benchmark tables",
        description=(
            "Recompute the appendix figures of 'Nonlocal Neural Tangent Kernels "
            "via Parameter-Space Interactions' (kernel heatmaps, spectrum "
            "convergence, alignment curves, alignment over training steps) for "
            "networks with nonsmooth activations, and the held-out "
            "regression and classification tables. Writes PNG figures, "
            "report.md and results.json into DIR. Needs matplotlib "
            '(pip install "sknntk[plot]").'
        ),
    )
    reproduce.add_argument(
        "--out",
        required=True,
        type=pathlib.Path,
        metavar="DIR",
        help="output directory, created if missing",
    )
    reproduce.add_argument(
        "--quick",
        action="store_true",
        help="run the same steps with smaller networks, data and grids, as a "
        "smoke test",
    )
    reproduce.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        metavar="S",
        help="seed of the networks, data splits and perturbations (default: 0)",
    )
    reproduce.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=1,
        metavar="J",
        help="joblib workers for the Monte Carlo kernels; -1 uses every CPU "
        "(default: 1)",
    )
    verbosity = reproduce.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=2,
        help="also log the time of every step",
    )
    verbosity.add_argument(
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=0,
        help="print nothing but errors: no progress bar, no summary",
    )
    reproduce.set_defaults(verbosity=1, handler=_run_reproduce)
    return parser


@contextlib.contextmanager
def _step_logging(enabled):
    """Send the INFO records of sknntk to stderr, printed above the progress bar."""
    if not enabled:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    logger = logging.getLogger("sknntk")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with logging_redirect_tqdm([logger]):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _describe_output_error(error, out):
    """Return a one-line message for an OSError on the output directory, or None.

    None means that the error concerns another path, so the caller re-raises it.
    """
    if error.strerror is None:
        # Raised by reproduce itself with a complete message, for example
        # when the output path is an existing file.
        return str(error)
    if error.filename is None:
        return None

    path = pathlib.Path(os.fsdecode(error.filename)).absolute()
    out = pathlib.Path(out).absolute()
    if path == out or path in out.parents:
        return f"failed to create the output directory '{out}': {error.strerror}."
    if out in path.parents:
        return (
            f"failed to write '{path}' in the output directory '{out}': "
            f"{error.strerror}."
        )
    return None


def _run_reproduce(args):
    from sknntk.experiments import reproduce

    try:
        with _step_logging(args.verbosity >= 2):
            results = reproduce(
                args.out,
                quick=args.quick,
                seed=args.seed,
                n_jobs=args.n_jobs,
                verbose=args.verbosity,
            )
    except ImportError as error:
        print(f"sknntk reproduce: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        message = _describe_output_error(error, args.out)
        if message is None:
            raise
        print(f"sknntk reproduce: error: {message}", file=sys.stderr)
        return 1

    if args.verbosity >= 1:
        print(
            f"Wrote {len(results['figures'])} figures, report.md and results.json "
            f"to {args.out} in {results['timings']['total']:.0f} s."
        )
    return 0


def main(argv=None):
    """Run the ``sknntk`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 when the command fails. Invalid arguments
        exit with status 2 through :class:`SystemExit`, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)
