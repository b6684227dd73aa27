"""A mixture run's components as plain generator checkpoints (issue 37's MGAN screen), each
exported by mnistgen-export and scored pooled by tests.bench.pooled, as a mixture whose
component a sample's seed picks would draw them:

    python -m tests.bench.mixture runs/mgan/checkpoint.pt runs/mgan/components
    mnistgen-export runs/mgan/components/component_0.pt --out runs/mgan/c0.onnx --latent-scale 0.95 ...

A component draws what the mixture draws with it (up to the last bits of the first layer's
matrix product, whose shape differs): the components differ only in their slice of the first
layer, and share the body and its (standing) BatchNorm statistics, which eval mode applies alike.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

from mnistgen.training.checkpoint import load_checkpoint, save_checkpoint, slim


def component(state: dict[str, Any], k: int) -> dict[str, Any]:
    """The slim checkpoint of generator ``k`` of a mixture checkpoint ``state``."""
    components = state["config"]["generator"]["components"]
    if not 0 <= k < components:
        raise ValueError(f"component {k} is not one of the mixture's {components}")
    plain = copy.deepcopy(slim(state))
    plain["config"]["generator"]["components"] = 1
    weights = plain["ema_generator"]
    for name in ("project.weight", "project.bias"):
        weights[name] = weights[name].view(components, -1, *weights[name].shape[1:])[k].clone()
    return plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path, help="folder for component_K.pt")
    args = parser.parse_args()
    state = load_checkpoint(args.checkpoint, kind="gan")
    for k in range(state["config"]["generator"].get("components", 1)):
        print(save_checkpoint(component(state, k), args.out / f"component_{k}.pt"))


if __name__ == "__main__":
    main()
