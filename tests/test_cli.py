import errno
import os
import subprocess
import sys

import pytest

import sknntk
import sknntk.experiments
from sknntk._cli import main
from sknntk.plotting import plot_kernel_heatmap


def _exit_code(argv):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    return raised.value.code


def test_help_lists_reproduce(capsys):
    assert _exit_code(["--help"]) == 0
    output = capsys.readouterr().out
    assert "usage: sknntk" in output
    assert "reproduce" in output


def test_reproduce_help_lists_options(capsys):
    assert _exit_code(["reproduce", "--help"]) == 0
    output = capsys.readouterr().out
    for option in ("--out", "--quick", "--seed", "--n-jobs", "--verbose", "--quiet"):
        assert option in output


def test_version(capsys):
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sknntk {sknntk.__version__}"


def test_unknown_command_exits_2(capsys):
    assert _exit_code(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_missing_command_exits_2(capsys):
    assert _exit_code([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce"], "the following arguments are required: --out"),
        (["reproduce", "--out", "x", "--seed", "-1"], "expected an integer >= 0"),
        (["reproduce", "--out", "x", "--seed", "one"], "expected an integer >= 0"),
        (["reproduce", "--out", "x", "--n-jobs", "0"], "expected a nonzero integer"),
        (
            ["reproduce", "--out", "x", "--verbose", "--quiet"],
            "not allowed with argument",
        ),
    ],
)
def test_invalid_reproduce_arguments_exit_2(argv, message, capsys):
    assert _exit_code(argv) == 2
    assert message in capsys.readouterr().err


def test_out_is_a_file_returns_1(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "taken"
    path.write_text("not a directory")

    assert main(["reproduce", "--out", str(path), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "exists and is not a directory" in error
    assert path.read_text() == "not a directory"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_out_in_proc_returns_1(capsys):
    """mkdir under /proc fails with FileNotFoundError, even with parents=True."""
    pytest.importorskip("matplotlib")

    assert main(["reproduce", "--out", "/proc/nope", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert error == (
        "sknntk reproduce: error: failed to create the output directory "
        "'/proc/nope': No such file or directory.\n"
    )


def test_out_below_a_file_returns_1(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "taken"
    path.write_text("not a directory")

    assert main(["reproduce", "--out", str(path / "sub"), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"failed to create the output directory '{path / 'sub'}'" in error
    assert error.endswith(": Not a directory.\n")


def _raise_in_reproduce(monkeypatch, error):
    def reproduce(out, **options):
        raise error

    monkeypatch.setattr(sknntk.experiments, "reproduce", reproduce)


def test_write_error_in_out_returns_1(tmp_path, monkeypatch, capsys):
    report = tmp_path / "report.md"
    _raise_in_reproduce(
        monkeypatch, PermissionError(errno.EACCES, "Permission denied", str(report))
    )

    assert main(["reproduce", "--out", str(tmp_path), "--quiet"]) == 1
    assert capsys.readouterr().err == (
        f"sknntk reproduce: error: failed to write '{report}' in the output "
        f"directory '{tmp_path}': Permission denied.\n"
    )


def test_os_error_elsewhere_is_raised(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere" / "data.csv"
    _raise_in_reproduce(
        monkeypatch,
        FileNotFoundError(errno.ENOENT, "No such file or directory", str(elsewhere)),
    )

    with pytest.raises(FileNotFoundError):
        main(["reproduce", "--out", str(tmp_path / "out"), "--quiet"])


def test_missing_matplotlib_returns_1(tmp_path, monkeypatch, capsys):
    # A None entry in sys.modules makes "import matplotlib" raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    assert main(["reproduce", "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert 'pip install "sknntk[plot]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_plotting_without_matplotlib_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    with pytest.raises(ImportError, match=r'pip install "sknntk\[plot\]"'):
        plot_kernel_heatmap([[1.0]])


def test_python_m_sknntk_help():
    completed = subprocess.run(
        [sys.executable, "-m", "sknntk", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "usage: sknntk" in completed.stdout
    assert "reproduce" in completed.stdout


def test_python_m_sknntk_unknown_command():
    completed = subprocess.run(
        [sys.executable, "-m", "sknntk", "frobnicate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "invalid choice" in completed.stderr
