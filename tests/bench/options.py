"""Command-line options of the benchmark suite and the sizes they imply."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models"
SECTIONS = ("cold_start", "throughput", "footprint", "memory", "dataset", "dataset_memory", "training", "quantization",
            "handwriting")
OWN_SECTIONS = ("serve",)
"""Run only when named in --only: minutes of load on a server, and wrk and the serve extra to drive it."""


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is: full figures by default, a few seconds in all with --quick."""

    repeats: int
    cold_count: int
    batches: tuple[int, ...]
    threads: tuple[int, ...]
    min_window_s: float  # each throughput figure times at least this long, so batch 1 is not noise
    memory_counts: tuple[int, int]  # (small, large)
    build_wheel: bool
    quant_calibration: int  # latents fed to static quantization's calibration
    quant_timed_batches: int  # batches of 64 per timed run of each quantization variant
    quant_diff_count: int  # samples compared pixel by pixel with fp32
    quant_per_digit: int  # samples per digit judged by the classifier
    dataset_per_digit: int  # the dataset timed against Generator.generate (and its CLI's peak RSS)
    dataset_rss_per_digit: int  # the large dataset whose CLI peak RSS is measured, once (dataset_memory)


FULL = Sizes(repeats=5, cold_count=10, batches=(1, 64, 1024), threads=(1, 2), min_window_s=0.3,
             memory_counts=(1000, 100_000), build_wheel=True,
             quant_calibration=256, quant_timed_batches=10, quant_diff_count=1000, quant_per_digit=100,
             dataset_per_digit=6000, dataset_rss_per_digit=100_000)
QUICK = Sizes(repeats=1, cold_count=10, batches=(1, 16), threads=(1, 2), min_window_s=0.01,
              memory_counts=(200, 2000), build_wheel=False,
              quant_calibration=64, quant_timed_batches=2, quant_diff_count=128, quant_per_digit=10,
              dataset_per_digit=20, dataset_rss_per_digit=200)


@dataclass(frozen=True)
class Options:
    quick: bool
    json_out: Optional[Path]
    generator: Path
    classifier: Path
    checkpoint: Path
    encoder: Path
    run_dir: Optional[Path]
    eval_report: Optional[Path]
    sections: tuple[str, ...]
    sizes: Sizes


def parse(argv: Optional[Sequence[str]] = None) -> Options:
    args = _parser().parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        sizes = Sizes(**{**sizes.__dict__, "repeats": args.repeats})
    if args.dataset_per_digit is not None:  # a smaller timed dataset when the machine is busy
        sizes = Sizes(**{**sizes.__dict__, "dataset_per_digit": args.dataset_per_digit})
    return Options(
        quick=args.quick, json_out=args.json, generator=args.generator, classifier=args.classifier,
        checkpoint=args.checkpoint, encoder=args.encoder, run_dir=args.run_dir, eval_report=args.eval_report,
        sections=_sections(args.only), sizes=sizes,
    )


def _sections(only: Optional[str]) -> tuple[str, ...]:
    if not only:
        return SECTIONS
    chosen = tuple(name.strip() for name in only.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SECTIONS + OWN_SECTIONS]
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS + OWN_SECTIONS)}")
    return chosen


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description="mnistgen benchmarks (issue 7).")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: checks the suite runs, figures mean little.")
    parser.add_argument("--json", type=Path, help="Also write all figures to this JSON file (atomically).")
    parser.add_argument("--generator", type=Path, default=SHIPPED / "generator.onnx", help="Generator .onnx.")
    parser.add_argument("--classifier", type=Path, default=SHIPPED / "classifier.onnx",
                        help="Classifier .onnx (its size counts in the footprint; it judges quantized labels).")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED / "generator.pt",
                        help="Slim checkpoint with the same EMA generator, for the torch side.")
    parser.add_argument("--encoder", type=Path, default=SHIPPED / "encoder.onnx",
                        help="Encoder .onnx paired with --generator (the handwriting section, --like).")
    parser.add_argument("--repeats", type=_positive, help="Repetitions per figure (default 5, 1 with --quick).")
    parser.add_argument("--dataset-per-digit", type=_positive,
                        help="Per-digit size of the dataset section's timed dataset (default 6000, 20 with --quick).")
    parser.add_argument("--run-dir", type=Path, help="Training run directory to read metrics.jsonl from.")
    parser.add_argument("--eval-report", type=Path,
                        help="mnistgen-eval --json report of that run's model: gives time-to-quality.")
    parser.add_argument("--only", help=f"Comma-separated sections to run (default all: {','.join(SECTIONS)}; "
                                       f"run only when named: {','.join(OWN_SECTIONS)}).")
    return parser
