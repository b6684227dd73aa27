"""Classification Accuracy Score (Ravuri & Vinyals 2019): train on generated, test on real.

A generator whose samples teach a fresh classifier nearly as well as real images do has
covered each digit's variety, not just its average look. Needs PyTorch (``mnistgen[train]``);
the rest of the evaluation does not, so this module is imported only for ``--cas``.
"""
from __future__ import annotations

from typing import Optional


from mnistgen.evaluation.samples import Samples
from mnistgen.images import uint8_to_unit
from mnistgen.training.classifier import ClassifierRecipe, accuracy, train_classifier
from mnistgen.training.data import Split
from mnistgen.training.threads import torch_threads

# Fixed recipe, the same for the model and the real reference (10k images -> ~320 steps).
CAS_RECIPE = ClassifierRecipe(epochs=4, batch_size=128, lr=3e-3, weight_decay=1e-4, shift=2, seed=0)


def classification_accuracy_score(
    samples: Samples, test: Split, recipe: Optional[ClassifierRecipe] = None, threads: Optional[int] = None
) -> float:
    """Accuracy on the real ``test`` split of a Classifier trained only on ``samples`` (CAS_RECIPE)."""
    with torch_threads(threads):
        model = train_classifier(uint8_to_unit(samples.images), samples.labels, recipe or CAS_RECIPE).model
        return accuracy(model, test.unit_images(), test.labels)

