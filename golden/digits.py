"""The pruned int8 digits CNN that ships with the package, and its test split.

``scripts/train_digits.py`` writes the files of ``golden/data/digits/``: the workload file
``digits_cnn.toml`` (three 3x3 convolutions with a skip connection, a max pooling, a strided
convolution and a fully connected classifier, ``docs/digits.md``), one ``.npz`` of int8 weights and
POU parameters per weighted layer, and ``test.npz`` (the test split: ``images`` int8 [N, 8, 8, 1],
the raw 0..16 pixels, and ``labels``). This module loads them and runs the network with the golden
model's layer functions; nothing here needs the training tools.
"""

from importlib.resources import files
from pathlib import Path

import numpy as np

from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.golden.workload_file import load_workload

__all__ = ["DIGITS_DIR", "DIGITS_WORKLOAD", "load_network", "load_test_split", "classify"]

DIGITS_DIR = Path(str(files("isosceles.golden") / "data" / "digits"))
DIGITS_WORKLOAD = DIGITS_DIR / "digits_cnn.toml"


def load_network(path=DIGITS_WORKLOAD, numerics=DEFAULT_NUMERICS):
    """The golden :class:`~isosceles.golden.network.Network` of the workload file ``path``."""
    return load_workload(path, numerics).network(numerics)


def load_test_split(path=DIGITS_DIR / "test.npz"):
    """``(images, labels)``: int64 [N, 8, 8, 1] at the input's int8 scale, and int64 [N]."""
    with np.load(path) as npz:
        return npz["images"].astype(np.int64), npz["labels"].astype(np.int64)


def classify(network, images):
    """``(logits, predictions)`` of ``network`` on ``images`` [N, H, W, C]: the last layer's
    int outputs [N, K] and their argmax [N] (the lowest class wins a tie)."""
    last = network.layers[-1].name
    logits = np.array([network.run(image)[last].reshape(-1) for image in images],
                      dtype=np.int64).reshape(len(images), -1)
    return logits, logits.argmax(axis=1)
