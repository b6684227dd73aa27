"""mnistgen-eval: score a generator (or an .npz of images) against real MNIST, with the bar.

Every figure is measured against the real 10k test set in the shipped classifier's feature
space; the reference row measures real training images the same way, so the model row can be
read as "how far from real". Both models are opened through the torch-free runtime
(``mnistgen.Generator`` and ``mnistgen.Classifier``), so the figures describe exactly what users
get: the same latent draw, pixel conversion and classifier.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import typer

from mnistgen import MAX_COUNT, Classifier, Generator, InputError, ModelError, console
from mnistgen.evaluation import model_card, report, samples, scoring
from mnistgen.evaluation.samples import SampleError, Samples
from mnistgen.files import file_identity
from mnistgen.limits import DEFAULT_MIN_CONFIDENCE
from mnistgen.training.data import DataError, Split, load_split


class EvalError(Exception):
    """Any other problem with the request, phrased for the user (one line)."""


@dataclass(frozen=True)
class Request:
    generator: Optional[Path]
    npz: Optional[Path]
    per_digit: int
    seed: int
    classifier: Optional[Path]
    data_dir: Optional[Path]
    cas: bool
    reference: bool
    threads: Optional[int]


def _load_samples(request: Request) -> tuple[Samples, Path, Optional[dict[str, Any]]]:
    """(samples, the file they came from, the generator's metadata or None for an .npz)."""
    if request.npz is not None:
        return samples.load_npz(request.npz), request.npz, None
    generator = Generator(request.generator, threads=request.threads)
    return samples.generate(generator, request.per_digit, request.seed), generator.path, generator.info


def _cas_function():
    """The CAS trainer, or one clear line when PyTorch is not installed."""
    try:
        from mnistgen.evaluation.cas import classification_accuracy_score
    except ImportError as error:
        if getattr(error, "name", None) == "torch" or "torch" in str(error):
            raise EvalError("--cas trains a classifier and needs PyTorch: pip install 'mnistgen[train]'") from None
        raise
    return classification_accuracy_score


def evaluate(request: Request, echo=typer.echo) -> tuple[dict, Optional[dict[str, Any]]]:
    """Run the whole evaluation; returns the JSON document (the table goes to ``echo``) and the
    scored generator's metadata (None for an .npz), which the model card quotes.
    """
    cas = _cas_function() if request.cas else None
    classifier = Classifier(request.classifier, threads=request.threads)  # first: cheap to check
    model_samples, source, generator_info = _load_samples(request)
    test = load_split("test", request.data_dir)
    reference_samples = None
    if request.reference:
        reference_samples = samples.reference_subset(load_split("train", request.data_dir), model_samples.counts())
    model, reference = _score(classifier, test, model_samples, reference_samples)
    if cas is not None:
        model = replace(model, cas=cas(model_samples, test, threads=request.threads))
        if reference is not None:
            reference = replace(reference, cas=cas(reference_samples, test, threads=request.threads))
    bar = report.check_bar(model, reference)
    echo(report.table(model, reference, bar))
    info = {
        "n": model.n,
        "seed": request.seed,
        "per_digit": None if request.npz else request.per_digit,
        # name and sha256, not a path: a path names nothing on the machine that reads the figures
        "source": file_identity(source),
        "classifier": file_identity(classifier.path),
        # the truncation the figures were measured at; mnistgen-export refuses to embed them in another
        "latent_scale": None if generator_info is None else generator_info.get("latent_scale"),
        "verify_min_confidence": DEFAULT_MIN_CONFIDENCE,
        "reference_seed": samples.REFERENCE_SEED if request.reference else None,
    }
    return report.report_dict(info, model, reference, bar), generator_info


def _score(
    classifier: Classifier, test: Split, model_samples: Samples, reference_samples: Optional[Samples]
) -> tuple[scoring.Figures, Optional[scoring.Figures]]:
    """The model row and the optional real reference row, both against the full test set."""
    real = scoring.real_stats(scoring.observe(classifier, Samples(test.images, test.labels)))
    model = scoring.score(scoring.observe(classifier, model_samples), real)
    if reference_samples is None:
        return model, None
    return model, scoring.score(scoring.observe(classifier, reference_samples), real)


PROG = "mnistgen-eval"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__.splitlines()[0])


@app.command()
def run(
    generator: Optional[Path] = typer.Argument(
        None, help="Generator ONNX (default: the shipped models/generator.onnx)."
    ),
    npz: Optional[Path] = typer.Option(
        None, help="Score these images instead: .npz with 'images' uint8 (N,28,28) and integer 'labels'."
    ),
    per_digit: int = typer.Option(1000, min=samples.MIN_PER_DIGIT, max=MAX_COUNT, help="Images generated per digit."),
    seed: int = typer.Option(0, min=0, help="Seed of the generated latents (non-negative)."),
    classifier: Optional[Path] = typer.Option(
        None, help="Classifier ONNX (default: the shipped models/classifier.onnx)."
    ),
    data_dir: Optional[Path] = typer.Option(None, help="MNIST directory (default: $MNISTGEN_DATA or the cache)."),
    cas: bool = typer.Option(
        False, "--cas", help="Also train a classifier on the images and test it on real ones (needs torch; minutes)."
    ),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures to this JSON file (atomically)."),
    reference: bool = typer.Option(
        True, "--reference/--no-reference", help="Also score real training images (the bar is relative to them)."
    ),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads for onnxruntime and torch."),
    readme: Optional[Path] = typer.Option(
        None, help="Rewrite the model card between the markers in this README (e.g. README.md)."
    ),
) -> None:
    """Print model-vs-real figures and the bar; optionally write them as JSON."""
    request = Request(generator, npz, per_digit, seed, classifier, data_dir, cas, reference, threads)
    try:
        if generator is not None and npz is not None:
            raise EvalError("give a generator model or --npz, not both")
        if readme is not None:
            model_card.read_readme(readme)
        if json_out is not None and json_out.is_dir():
            raise EvalError(f"--json {json_out} is a directory; give a file name")
        document, generator_info = evaluate(request)
        if json_out is not None:
            typer.echo(f"wrote {report.write_json(document, json_out)}")
        if readme is not None:
            card = model_card.render(document, generator_info)
            typer.echo(f"wrote the model card into {model_card.update_readme(readme, card)}")
    except (EvalError, ModelError, InputError, SampleError, DataError, model_card.ModelCardError) as error:
        raise console.fail(PROG, str(error)) from None
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise console.fail(PROG, f"{where}{error.strerror or error}") from None


def main() -> None:
    console.run(app, PROG)


if __name__ == "__main__":
    main()
