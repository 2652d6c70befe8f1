"""The lab: the classic experiments on why training gets stuck and how adaptive learning rates fix it.

Each experiment is a module with ``run(steps=None, seed=0, fast=False, progress=False)``, which
returns its figures as a dict, ``table_of(result)``, a short table for people, ``plot(result,
path)``, which draws a PNG, and ``LESSON``, a paragraph on what it teaches; ``race`` also has
``animate(result, path)``, which writes a GIF. ``fastoptim demo NAME`` runs them from the command
line, and ``fastoptim demo all`` writes a page showing them all (:mod:`fastoptim.lab.page`);
:func:`to_json` turns a result into JSON.

=================  ===========================================================================
``error-surface``  GD, AdaGrad (averaged, with and without lr decay), RMSProp, Adam and feature
                   normalisation on a badly conditioned linear-regression error surface
``newton``         one Newton step lands on a quadratic's minimum but costs O(n^3); diagonal scaling
                   (and AdaGrad, Adam) costs O(n)
``sparse``         AdaGrad and Adam learn rare features' weights that SGD and momentum leave behind
``saddle``         GD stalls at a saddle; the Hessian's negative eigenvector, momentum and noise
                   escape it
``momentum``       momentum rolls over a small hill into a deeper minimum
``batch-size``     cost per update and per epoch, the gradient's variance, and accuracy at equal
                   epochs, updates and training loss, against the batch size
``vanishing``      per-layer gradient norms through sigmoid and ReLU stacks, batch normalisation and
                   residual connections as remedies, and clipping
``warmup``         Adam at a high learning rate with and without a linear warm-up
``precision``      Adam with its state in float32, bfloat16 and 8 bits: loss, accuracy, memory
``race``           every update rule on Rosenbrock, Beale and a saddle, still and animated
``learning-rate``  Adam over a grid of learning rates, the range test's pick, and Prodigy, D-Adapt
                   Adam and Schedule-Free AdamW from their defaults
=================  ===========================================================================
"""

from types import ModuleType
from typing import Dict

from . import batch_size, error_surface, learning_rate, momentum, newton, page, precision, race, saddle, sparse, vanishing, warmup
from ._common import to_json
from .mlp import MLP

EXPERIMENTS: Dict[str, ModuleType] = {
    m.NAME: m for m in (error_surface, newton, sparse, saddle, momentum, batch_size, vanishing, warmup, learning_rate, precision, race)
}

__all__ = ["EXPERIMENTS", "MLP", "batch_size", "error_surface", "learning_rate", "momentum", "newton", "page", "precision", "race", "saddle", "sparse", "to_json", "vanishing", "warmup"]
