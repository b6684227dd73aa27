"""Every command reports its errors the same way (one line, ``PROG: error: ...``, exit 2), whether
click refused the usage or the command refused the input, and every command answers --version."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

COMMANDS = {
    "mnistgen": ["mnistgen", "5", "--bogus"],
    "mnistgen-train": ["mnistgen.training.cli", "--batch-size", "0"],
    "mnistgen-train-classifier": ["mnistgen.training.classifier", "--bogus"],
    "mnistgen-export": ["mnistgen.export.cli"],
    "mnistgen-eval": ["mnistgen.evaluation.cli", "--per-digit", "1"],
    "mnistgen-dataset": ["mnistgen.dataset_cli", "out", "--bogus"],
}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_usage_error_is_one_line_with_exit_2(prog, tmp_path):
    module, *args = COMMANDS[prog]
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    assert f"see {prog} --help" in lines[0] and not list(tmp_path.iterdir())


def _own_error(prog: str, tmp_path) -> list[str]:
    """Arguments that pass click's checks but that the command itself refuses (nothing is trained)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    return {
        "mnistgen": ["mnistgen", "5", "--model", str(tmp_path / "missing.onnx")],
        "mnistgen-train": ["mnistgen.training.cli", "--data-dir", str(empty), "--out", str(tmp_path / "run")],
        "mnistgen-train-classifier": ["mnistgen.training.classifier", "--data-dir", str(empty),
                                      "--out", str(tmp_path / "c.pt")],
        "mnistgen-export": ["mnistgen.export.cli", str(tmp_path / "missing.pt")],
        "mnistgen-eval": ["mnistgen.evaluation.cli", "--npz", str(tmp_path / "missing.npz")],
        "mnistgen-dataset": ["mnistgen.dataset_cli", str(tmp_path / "out"), "--per-digit", "1",
                             "--model", str(tmp_path / "missing.onnx")],
    }[prog]


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_the_commands_own_errors_have_the_same_one_line_form(prog, tmp_path):
    module, *args = _own_error(prog, tmp_path)
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    assert "--help" not in lines[0]  # the command's own message, not click's usage error


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_version_prints_the_package_version(prog, tmp_path):
    module = COMMANDS[prog][0]
    # no other argument: --version is answered before a required one (mnistgen-export's CHECKPOINT) is missed
    result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    line = f"{prog} {metadata.version('mnistgen')}"
    if prog == "mnistgen":  # it also names the model that draws (tests/test_cli.py checks which)
        assert result.stdout.startswith(f"{line} (model "), result.stdout
    else:
        assert result.stdout == f"{line}\n"
    assert not list(tmp_path.iterdir())


def test_version_is_listed_in_help():
    result = subprocess.run([sys.executable, "-m", "mnistgen", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--version" in result.stdout
