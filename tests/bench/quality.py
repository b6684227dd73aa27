"""Time to quality: the figures of a run's snapshots against the training time they took.

`mnistgen-train --snapshot-every K` keeps the EMA generator every K generator steps; each
snapshot holds exactly what a run with `--steps` at that step ends with (the recipe has no
schedule tied to the run's length), so one run gives the whole curve. Each chosen snapshot is
exported at the given latent scale and scored by `mnistgen-eval`'s evaluation without CAS.

    python -m tests.bench.quality runs/release-s0 --latent-scale 0.95 --every 6000 --at 10000,28000

To rank two recipes, one sample seed is too noisy (another seed moves FID by about 0.2):
``--sample-seeds 0,1,2`` scores each snapshot on each seed and reports the mean (per seed too).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mnistgen.evaluation.cli import Request, evaluate
from mnistgen.export.from_checkpoint import export_checkpoint
from mnistgen.files import write_atomic
from mnistgen.training.checkpoint import load_checkpoint

FIGURES = ("label_accuracy", "fid", "fid_per_digit_mean", "precision", "recall")


def snapshots(run_dir: Path, every: int, at: set[int]) -> list[Path]:
    found = sorted((run_dir / "snapshots").glob("step_*.pt"))
    return [path for path in found if int(path.stem.split("_")[1]) % every == 0 or int(path.stem.split("_")[1]) in at]


def score(snapshot: Path, latent_scale: float, per_digit: int, data_dir: Path | None,
          sample_seeds: tuple[int, ...] = (0,)) -> dict:
    """The snapshot's figures, the mean over ``sample_seeds`` (each seed's own under "per_seed")."""
    state = load_checkpoint(snapshot, kind="gan")
    documents = []
    with tempfile.TemporaryDirectory() as tmp:
        model = export_checkpoint(snapshot, Path(tmp) / "generator.onnx", latent_scale=latent_scale)
        for seed in sample_seeds:
            request = Request(model, None, per_digit, seed, None, data_dir, cas=False, reference=True, threads=None)
            documents.append(evaluate(request, echo=lambda *_: None)[0])
    per_seed = [{name: document["model"][name] for name in FIGURES} for document in documents]
    mean = {name: sum(figures[name] for figures in per_seed) / len(per_seed) for name in FIGURES}
    # the bar from the mean, against the first seed's thresholds (the real row does not depend on the seed)
    bar = documents[0]["bar"]
    passed = {name: (mean[name] >= bar[name]["threshold"]) if bar[name]["comparison"] == ">=" else
              (mean[name] <= bar[name]["threshold"]) for name in FIGURES}
    return {"step": state["generator_step"], "minutes": round(state["seconds"] / 60, 2), **mean,
            "sample_seeds": list(sample_seeds), "per_seed": per_seed, "bar_without_cas": passed,
            "real": {name: documents[0]["reference"][name] for name in FIGURES}}


def table(rows: list[dict]) -> str:
    lines = ["| generator steps | training minutes | label accuracy | FID | per-digit FID | precision | recall "
             "| goal without CAS |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        met = sum(bool(v) for v in r["bar_without_cas"].values())
        lines.append(f"| {r['step']:,} | {r['minutes']:.1f} | {100 * r['label_accuracy']:.2f}% | {r['fid']:.3f} | "
                     f"{r['fid_per_digit_mean']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {met} of 5 |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--latent-scale", type=float, required=True)
    parser.add_argument("--every", type=int, default=4000, help="score the snapshots at multiples of this step")
    parser.add_argument("--at", default="", help="also these steps, comma-separated (e.g. the 15-minute one)")
    parser.add_argument("--per-digit", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sample-seeds", default="0", help="comma-separated; the figures are their mean")
    args = parser.parse_args()
    seeds = tuple(int(seed) for seed in args.sample_seeds.split(",") if seed.strip())
    rows = []
    at = {int(step) for step in args.at.split(",") if step.strip()}
    for path in snapshots(args.run_dir, args.every, at):
        rows.append(score(path, args.latent_scale, args.per_digit, args.data_dir, seeds))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if args.json is not None:
        write_atomic(args.json, (json.dumps({"latent_scale": args.latent_scale, "rows": rows}, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
