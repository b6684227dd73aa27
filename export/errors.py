"""The one error type of the export stage, phrased for the user (one line)."""
from __future__ import annotations

# Exit codes: bad input (the user can fix it) vs. an export that failed its own checks (a bug).
BAD_INPUT = 2
FAILED_CHECK = 1


class ExportError(Exception):
    def __init__(self, message: str, exit_code: int = BAD_INPUT):
        super().__init__(message)
        self.exit_code = exit_code
