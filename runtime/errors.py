"""The runtime's exceptions: what the caller did wrong, kept apart from bugs.

Both input errors are ValueErrors so plain ``except ValueError`` callers keep working;
the CLI turns exactly these (and nothing else) into one line on stderr with exit 2.
"""
from __future__ import annotations


class InputError(ValueError):
    """An argument is out of range or of the wrong kind; the message says what is accepted."""


class ModelError(ValueError):
    """A model file is missing, unreadable, or not a compatible mnistgen model."""


class VerificationError(RuntimeError):
    """Verified generation hit its draw limit before enough samples passed the classifier."""
