"""`mnistgen-dataset OUT_DIR --per-digit N`: a labelled dataset in MNIST's own files (mnistgen.dataset).

Exit status: 0 done; 2 bad input (options, OUT_DIR, model file), one line on stderr; 1 --verify
could not find enough samples; 130 interrupted. Every option and OUT_DIR are checked before the
model is opened, and nothing is written unless all of the dataset is: the files appear together.
"""
from __future__ import annotations

import sys
from typing import Optional

import typer

from mnistgen import dataset
from mnistgen.console import fail, number, run
from mnistgen.generator import Generator
from mnistgen.limits import (
    DEFAULT_MIN_CONFIDENCE,
    MAX_PER_DIGIT,
    InputError,
    ModelError,
    VerificationError,
    check_threads,
)
from mnistgen.progress import bar_for

PROG = "mnistgen-dataset"
OPTIONS = {name: "--" + name.replace("_", "-") for name in dataset.API_NAMES}
"""How this command's refusals name check_request's arguments: as typed (--per-digit)."""

# plain help and no rich tracebacks, as for `mnistgen`: one-line errors, fast start
app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(help="Write a labelled dataset of generated digits in MNIST's file format (IDX, or npz).")
def command(
    out_dir: Optional[str] = typer.Argument(None, metavar="OUT_DIR", help="Directory to write (created if missing)."),
    # numeric options arrive as text, so a value that is no number gets our message (_check_options)
    per_digit: Optional[str] = typer.Option(
        None, "--per-digit", "-n", metavar="N", help=f"Images of each digit, 1-{MAX_PER_DIGIT} (10x that in all). Required."),
    seed: Optional[str] = typer.Option(
        None, "--seed", "-s", metavar="S", help="Non-negative integer: the same seed writes the same bytes; default fresh (in the manifest)."),
    split: str = typer.Option("train", "--split", help=f"File prefix: {' or '.join(dataset.SPLITS)} (as MNIST's)."),
    format: str = typer.Option("idx", "--format", "-f", help="idx (MNIST's gzipped files, default) or npz (one archive)."),
    verify: bool = typer.Option(False, "--verify", help="Keep only samples the classifier recognises."),
    min_confidence: Optional[str] = typer.Option(
        None, "--min-confidence", metavar="C", help=f"With --verify: 0-1, default {DEFAULT_MIN_CONFIDENCE}."),
    model: Optional[str] = typer.Option(None, "--model", help="Generator .onnx; default: the shipped model."),
    classifier: Optional[str] = typer.Option(None, "--classifier", help="Classifier .onnx for --verify; default: the shipped one."),
    threads: Optional[str] = typer.Option(None, "--threads", metavar="T", help="onnxruntime threads, > 0; default: onnxruntime's choice."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset of this split already in OUT_DIR."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, and do not print the paths written."),
    stroke_width_range: Optional[str] = typer.Option(
        None, "--stroke-width-range", metavar="LOW:HIGH", help="Steer each sample to a stroke width drawn uniformly from LOW:HIGH px (within each digit's legible range); the manifest records each target and measured value."),
    slant_range: Optional[str] = typer.Option(
        None, "--slant-range", metavar="LOW:HIGH", help="Steer each sample to a slant drawn uniformly from LOW:HIGH degrees, likewise."),
) -> None:
    try:
        if out_dir is None:
            raise InputError("OUT_DIR is required: the directory to write the dataset to")
        request, threads = _check_options(per_digit, seed, split, format, verify, min_confidence, threads,
                                          stroke_width_range, slant_range)
        out, kept_splits = dataset.check_destination(out_dir, request, force, f"OUT_DIR {out_dir}")
        generator = Generator(model, threads=threads, classifier=classifier)
        ranges = dataset.digit_ranges(generator, request, OPTIONS)  # refused before anything is made
        progress = bar_for("writing dataset", request.count, quiet)
        paths = dataset.write_files(out, request, generator, kept_splits, progress, ranges)
    except (InputError, ModelError) as exc:
        raise fail(PROG, str(exc), 2) from None
    except VerificationError as exc:
        raise fail(PROG, str(exc), 1) from None
    except OSError as exc:
        # OUT_DIR passed the up-front checks but the write still failed (permissions, disk full)
        raise fail(PROG, f"cannot write the dataset to {out_dir}: {exc.strerror or exc}; nothing was written", 2) from None
    if not quiet:
        sys.stdout.write("".join(f"{path}\n" for path in paths))


def _check_options(per_digit: Optional[str], seed: Optional[str], split: str, format: str, verify: bool,
                   min_confidence: Optional[str], threads: Optional[str], stroke_width_range: Optional[str] = None,
                   slant_range: Optional[str] = None) -> tuple[dataset.Request, Optional[int]]:
    """dataset.check_request's checks, each refusal naming the option as typed (--per-digit, not
    the API's per_digit): the numbers read from their text, then the one set of rules."""
    if per_digit is None:
        raise InputError(f"--per-digit is required: images of each digit, 1-{MAX_PER_DIGIT}")
    ranges = [None if text is None else _split_range(text) for text in (stroke_width_range, slant_range)]
    request = dataset.check_request(number(per_digit, int), number(seed, int), split, format, verify,
                                    number(min_confidence, float), *ranges, names=OPTIONS)
    return request, check_threads(number(threads, int), "--threads")


def _split_range(text: str) -> object:
    """LOW:HIGH as two numbers (a negative LOW too: -25:30), else the text, which check_request refuses."""
    low, colon, high = text.partition(":")
    try:
        return (float(low), float(high)) if colon else text
    except ValueError:
        return text


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors (unknown option, non-integer --per-digit) are one line too."""
    run(app, PROG, argv)


if __name__ == "__main__":
    main()
