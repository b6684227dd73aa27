"""Every command reports a usage error (bad value, unknown option, missing argument) as one line."""
from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = {
    "mnistgen": ["mnistgen", "5", "--bogus"],
    "mnistgen-train": ["mnistgen.training.cli", "--batch-size", "0"],
    "mnistgen-train-classifier": ["mnistgen.training.classifier", "--bogus"],
    "mnistgen-export": ["mnistgen.export.cli"],
    "mnistgen-eval": ["mnistgen.evaluation.cli", "--per-digit", "1"],
}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_usage_error_is_one_line_with_exit_2(prog, tmp_path):
    module, *args = COMMANDS[prog]
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    assert f"see {prog} --help" in lines[0] and not list(tmp_path.iterdir())
