"""Whether the torch side of a comparison can run here, and why not when it cannot."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional


def torch_unavailable(checkpoint: Path) -> Optional[str]:
    """None when torch is installed and the checkpoint exists, else the reason (for the report)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install mnistgen[train])"
    if not checkpoint.is_file():
        return f"no checkpoint at {checkpoint} (pass --checkpoint)"
    return None
