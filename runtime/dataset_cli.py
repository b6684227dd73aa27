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
from mnistgen.console import fail, run
from mnistgen.generator import Generator
from mnistgen.limits import DEFAULT_MIN_CONFIDENCE, MAX_PER_DIGIT, InputError, ModelError, VerificationError, check_threads
from mnistgen.progress import bar_for

PROG = "mnistgen-dataset"

# plain help and no rich tracebacks, as for `mnistgen`: one-line errors, fast start
app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(help="Write a labelled dataset of generated digits in MNIST's file format (IDX, or npz).")
def command(
    out_dir: Optional[str] = typer.Argument(None, metavar="OUT_DIR", help="Directory to write (created if missing)."),
    per_digit: Optional[int] = typer.Option(
        None, "--per-digit", "-n", help=f"Images of each digit, 1-{MAX_PER_DIGIT} (10x that in all). Required."),
    seed: Optional[int] = typer.Option(
        None, "--seed", "-s", help="Non-negative integer: the same seed writes the same bytes; default fresh (in the manifest)."),
    split: str = typer.Option("train", "--split", help=f"File prefix: {' or '.join(dataset.SPLITS)} (as MNIST's)."),
    format: str = typer.Option("idx", "--format", "-f", help="idx (MNIST's gzipped files, default) or npz (one archive)."),
    verify: bool = typer.Option(False, "--verify", help="Keep only samples the classifier recognises."),
    min_confidence: Optional[float] = typer.Option(
        None, "--min-confidence", help=f"With --verify: 0-1, default {DEFAULT_MIN_CONFIDENCE}."),
    model: Optional[str] = typer.Option(None, "--model", help="Generator .onnx; default: the shipped model."),
    classifier: Optional[str] = typer.Option(None, "--classifier", help="Classifier .onnx for --verify; default: the shipped one."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime threads, > 0; default: onnxruntime's choice."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset of this split already in OUT_DIR."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, and do not print the paths written."),
) -> None:
    try:
        if out_dir is None:
            raise InputError("OUT_DIR is required: the directory to write the dataset to")
        if per_digit is None:
            raise InputError(f"--per-digit is required: images of each digit, 1-{MAX_PER_DIGIT}")
        request = dataset.check_request(per_digit, seed, split, format, verify, min_confidence)
        threads = check_threads(threads)
        out, kept_splits = dataset.check_destination(out_dir, request, force, f"OUT_DIR {out_dir}")
        generator = Generator(model, threads=threads, classifier=classifier)
        progress = bar_for("writing dataset", request.count, quiet)
        paths = dataset.write_files(out, request, generator, kept_splits, progress)
    except (InputError, ModelError) as exc:
        raise fail(PROG, str(exc), 2) from None
    except VerificationError as exc:
        raise fail(PROG, str(exc), 1) from None
    except OSError as exc:
        # OUT_DIR passed the up-front checks but the write still failed (permissions, disk full)
        raise fail(PROG, f"cannot write the dataset to {out_dir}: {exc.strerror or exc}; nothing was written", 2) from None
    if not quiet:
        sys.stdout.write("".join(f"{path}\n" for path in paths))


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors (unknown option, non-integer --per-digit) are one line too."""
    run(app, PROG, argv)


if __name__ == "__main__":
    main()
