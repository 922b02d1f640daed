"""User networks for the performance model, from the TOML layer files of the IS-OS block.

The format is the block's (issue 9: ``[[layer]]`` tables with ``name``, ``type``, ``input``,
``kernel``, ``out_channels``, ``stride``, ``padding``, ``groups``, ``weight_density``,
``activation_density``, ``relu`` and the POU keys); the model reads what it needs, shapes and
densities, and ignores the POU keys. Until the block's loader is merged this module checks the
keys itself, with one-line errors naming the file, the layer and the key.

What the model needs that the format does not say:

* A layer reading an earlier layer sees that layer's output at its expected density: the
  accumulations' density ``1 - (1 - dw * din) ** (C/groups * R * S)``, times
  :data:`RELU_KEEPS` when a ReLU follows (it keeps the positive half of symmetric nonzero
  accumulations).
* The model's layers are square: ``R == S`` and equal padding on both axes.
* ``tensors`` (real tensors in an ``.npz``) is refused: the model works from densities.
"""

import difflib
import tomllib
from pathlib import Path

from isosceles.perf.workloads import Layer, Tensor, Workload, accumulation_density

__all__ = ["RELU_KEEPS", "load_workload"]

RELU_KEEPS = 0.5
TYPES = ("conv", "depthwise", "fc")
KEYS = ("name", "type", "input", "kernel", "out_channels", "stride", "padding", "groups",
        "weight_density", "activation_density", "relu", "requant", "bias", "mult", "shift",
        "seed", "tensors")
TOP_KEYS = ("description", "layer")


def _unknown(where, key, known):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the keys are {', '.join(known)}"
    return ValueError(f"{where}: unknown key {key!r}{hint}")


def _int(where, entry, key, low, high, default=None):
    value = entry.get(key, default)
    if value is None:
        raise ValueError(f"{where}: {key} is missing; give an integer in {low}..{high}")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{where}: {key} must be an integer in {low}..{high}, not {value!r}")
    return value


def _density(where, entry, key, low_open):
    value = entry.get(key)
    interval = "(0, 1]" if low_open else "[0, 1]"
    if value is None:
        raise ValueError(f"{where}: {key} is missing; give a density in {interval}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value <= 1 if low_open else 0 <= value <= 1):
        raise ValueError(f"{where}: {key} must be a number in {interval}, not {value!r}")
    return float(value)


def _square(where, entry, key, default):
    value = entry.get(key, default)
    pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(pair, list) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair)):
        raise ValueError(f"{where}: {key} must be an integer or [rows, cols], not {value!r}")
    if pair[0] != pair[1]:
        raise ValueError(f"{where}: {key} {pair} is not square; the performance model takes "
                         f"equal rows and columns")
    return pair[0]


def load_workload(path):
    """The network in the TOML file ``path`` as a :class:`~isosceles.perf.workloads.Workload`
    named after the file."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path.name}: not valid TOML ({error})") from error
    for key in document:
        if key not in TOP_KEYS:
            raise _unknown(path.name, key, TOP_KEYS)
    entries = document.get("layer")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path.name}: no [[layer]] table; add one per layer")
    tensors, layers, seeds = {}, [], []
    for index, entry in enumerate(entries):
        where = f"{path.name}: layer {entry.get('name', index)!r}"
        for key in entry:
            if key not in KEYS:
                raise _unknown(where, key, KEYS)
        name = entry.get("name")
        if not isinstance(name, str) or not name or name in tensors or \
                any(layer.name == name for layer in layers):
            raise ValueError(f"{where}: name must be a new, non-empty string, not {name!r}")
        kind = entry.get("type")
        if kind not in TYPES:
            raise ValueError(f"{where}: type must be one of {', '.join(TYPES)}, not {kind!r}")
        if "tensors" in entry:
            raise ValueError(f"{where}: tensors is not read by the performance model; give "
                             f"weight_density and activation_density instead")
        source = entry.get("input")
        if isinstance(source, list):
            if not (len(source) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                              and v > 0 for v in source)):
                raise ValueError(f"{where}: input must be [H, W, C] (positive integers) or an "
                                 f"earlier layer's name, not {source!r}")
            density = _density(where, entry, "activation_density", low_open=False)
            source_name = f"{name}.input"
            tensors[source_name] = Tensor(source_name, *source, density)
        elif any(layer.name == source for layer in layers):
            source_name = source
        else:
            raise ValueError(f"{where}: input {source!r} is neither [H, W, C] nor the name of "
                             f"an earlier layer")
        t = tensors[source_name]
        weight_density = _density(where, entry, "weight_density", low_open=True)
        relu = entry.get("relu", True)
        if not isinstance(relu, bool):
            raise ValueError(f"{where}: relu must be true or false, not {relu!r}")
        if kind == "fc":
            k = _int(where, entry, "out_channels", 1, 1 << 20)
            layer = Layer(name, "fc", source_name, 1, 1, t.elements, k,
                          weight_density=weight_density)
        else:
            groups = t.channels if kind == "depthwise" else _int(
                where, entry, "groups", 1, t.channels, 1)
            k = _int(where, entry, "out_channels", 1, 1 << 20,
                     t.channels if kind == "depthwise" else None)
            if t.channels % groups or k % groups:
                raise ValueError(f"{where}: groups {groups} must divide the input channels "
                                 f"{t.channels} and out_channels {k}")
            kernel = _square(where, entry, "kernel", None)
            if kernel < 1:
                raise ValueError(f"{where}: kernel must be at least 1, not {kernel}")
            layer = Layer(name, "conv", source_name, t.rows, t.cols, t.channels, k, kernel,
                          _int(where, entry, "stride", 1, 16, 1),
                          _square(where, entry, "padding", 0), groups, weight_density)
            if layer.out_rows < 1 or layer.out_cols < 1:
                raise ValueError(f"{where}: kernel {kernel} does not fit the {t.rows} x "
                                 f"{t.cols} input with padding {layer.padding}")
        accumulations = accumulation_density(layer.products_per_output, weight_density,
                                             t.density)
        rows, cols = (1, 1) if kind == "fc" else (layer.out_rows, layer.out_cols)
        tensors[name] = Tensor(name, rows, cols, k,
                               accumulations * (RELU_KEEPS if relu else 1.0))
        layers.append(layer)
        seeds.append(_int(where, entry, "seed", 0, 2**32 - 1, 0))
    ordered = [t for n, t in tensors.items() if n.endswith(".input")] + [
        t for n, t in tensors.items() if not n.endswith(".input")]
    return Workload(path.stem, path.stem, tuple(layers), tuple(ordered), seeds[0])
