"""Workload files: layers and small networks in TOML, turned into concrete, seeded tensors.

A workload file holds an optional ``description`` and one ``[[layer]]`` table per layer::

    description = "a 3x3 convolution"

    [[layer]]
    name = "conv1"
    type = "conv"              # "conv", "depthwise" or "fc"
    input = [8, 8, 16]         # [H, W, C], or the name of an earlier layer to read its output
    kernel = [3, 3]            # [R, S] (conv, depthwise)
    out_channels = 16          # K (conv, fc; depthwise: a multiple of C, default C)
    stride = 1                 # 1..3 (conv, depthwise; default 1)
    padding = 1                # int or [ph, pw], 0..R-1 / 0..S-1 (conv, depthwise; default 0)
    groups = 1                 # divides C and K (conv; depthwise has groups = C)
    weight_density = 0.3       # 0..1: each weight is nonzero with this probability
    activation_density = 0.5   # 0..1 (a layer with its own input only)
    # tensors = "conv1.npz"    # instead of the densities: arrays "input" and "weights"
    relu = true                # default true
    requant = "auto"           # default; or bias = [...], mult = [...], shift = [...] (K each)
    seed = 1                   # default 0

Everything a layer needs is drawn from ``numpy.random.default_rng(seed)`` in a fixed order
(input, then weights), so the golden model and an RTL run see identical data. Nonzero activations
are uniform in ``+-(2**(act_bits-4) - 1)`` and nonzero weights in ``+-2**(weight_bits-3)``
(zero excluded), small enough that most partial sums stay inside ``acc_bits``. ``requant =
"auto"`` sets ``bias = 0`` and, per output channel, the ``mult`` and ``shift`` that map the
largest accumulation magnitude of that channel (in this layer's data) closest to the largest
activation. An ``fc`` layer reads its input ``[H, W, C]`` in ``(h, w, c)`` order and has weights
``[H*W*C, K]``.

Every error is one line naming the file, the layer and the key.
"""

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isosceles.golden.isos import conv2d
from isosceles.golden.layers import fully_connected
from isosceles.golden.memory_image import MAX_CHANNELS, MAX_COLUMNS, LayerImage
from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.reference import dense_conv2d

__all__ = ["WorkloadError", "WorkloadLayer", "Workload", "load_workload", "auto_requant"]

LAYER_TYPES = ("conv", "depthwise", "fc")
MAX_KERNEL = 7   # the golden model's largest R, S
MAX_STRIDE = 3   # the block's largest stride

# key -> layer types it applies to
_KEYS = {
    "name": LAYER_TYPES, "type": LAYER_TYPES, "input": LAYER_TYPES,
    "kernel": ("conv", "depthwise"), "out_channels": LAYER_TYPES,
    "stride": ("conv", "depthwise"), "padding": ("conv", "depthwise"), "groups": ("conv",),
    "weight_density": LAYER_TYPES, "activation_density": LAYER_TYPES, "tensors": LAYER_TYPES,
    "relu": LAYER_TYPES, "requant": LAYER_TYPES, "bias": LAYER_TYPES, "mult": LAYER_TYPES,
    "shift": LAYER_TYPES, "seed": LAYER_TYPES,
}
_REQUIRED = {
    "conv": ("name", "type", "input", "kernel", "out_channels"),
    "depthwise": ("name", "type", "input", "kernel"),
    "fc": ("name", "type", "input", "out_channels"),
}
_TOP_KEYS = ("description", "layer")


class WorkloadError(ValueError):
    """A workload file that cannot be read: one line naming the file, the layer and the key."""


@dataclass(frozen=True)
class WorkloadLayer:
    """One layer of a workload with its concrete tensors.

    Members
    -------
    name, type : str
    input : int64 array [H, W, C]
        For a layer that reads an earlier one (``source``), that layer's ``output``.
    weights : int64 array
        ``[C/groups, R, K, S]``; for ``fc``, ``[H*W*C, K]``.
    pou : PouParams
    stride : int
    padding : (int, int)
    groups : int
    source : str or None
        The earlier layer whose output this layer reads, or None for its own input.
    seed : int
    accumulations : int64 array [P, Q, K]
        What the block computes before the POU (``[1, 1, K]`` for ``fc``).
    output : int64 array [P, Q, K]
        The layer's golden output, after the POU.
    """

    name: str
    type: str
    input: np.ndarray
    weights: np.ndarray
    pou: PouParams
    stride: int
    padding: tuple
    groups: int
    source: str
    seed: int
    accumulations: np.ndarray
    output: np.ndarray

    def conv_arguments(self):
        """``(input, filters, stride, padding, groups)`` of this layer as the block runs it: a
        fully connected layer is a 1x1 convolution of a 1x1 image with ``H*W*C`` channels."""
        if self.type == "fc":
            return (self.input.reshape(1, 1, -1), self.weights[:, None, :, None], 1, (0, 0), 1)
        return self.input, self.weights, self.stride, self.padding, self.groups

    def layout(self, image, *, input_area=None, row_stride_words=None, numerics=DEFAULT_NUMERICS):
        """This layer laid out in ``image`` (a :class:`~isosceles.golden.memory_image.LayerImage`);
        ``input_area`` is the output area of the ``source`` layer, when it has one."""
        if self.type == "fc":
            return LayerImage.fc(image, self.input, self.weights, self.pou, numerics=numerics,
                                 input_area=input_area, row_stride_words=row_stride_words,
                                 name=self.name)
        return LayerImage.conv(image, self.input, self.weights, self.pou, stride=self.stride,
                               padding=self.padding, groups=self.groups, numerics=numerics,
                               input_area=input_area, row_stride_words=row_stride_words,
                               name=self.name)


@dataclass(frozen=True)
class Workload:
    """The layers of one workload file, in file order."""

    path: Path
    description: str
    layers: tuple

    def layer(self, name):
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{self.path} has no layer {name!r}; its layers are "
                       f"{', '.join(layer.name for layer in self.layers)}")


class _Reader:
    """Validates one ``[[layer]]`` table; every error names the file, the layer and the key."""

    def __init__(self, path, index, table):
        self.path, self.table = path, table
        name = table.get("name")
        self.label = repr(name) if isinstance(name, str) and name else f"#{index + 1}"

    def fail(self, key, problem):
        where = f"layer {self.label}" + (f": {key}" if key else "")
        raise WorkloadError(f"{self.path}: {where}: {problem}")

    def has(self, key):
        return key in self.table

    def _typed(self, key, value, kind):
        checks = {
            "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "a string": lambda v: isinstance(v, str),
            "a boolean": lambda v: isinstance(v, bool),
        }
        if not checks[kind](value):
            self.fail(key, f"must be {kind}, not {value!r} ({type(value).__name__})")
        return value

    def value(self, key, kind, default=None, low=None, high=None):
        if key not in self.table:
            return default
        value = self._typed(key, self.table[key], kind)
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(key, f"{value!r} is out of range {low}..{high}")
        return value

    def ints(self, key, count, low, high, default=None, what=None):
        """A list of ``count`` integers (``count`` None: any length) in ``low..high``."""
        if key not in self.table:
            return default
        values = self.table[key]
        form = what or (f"a list of {count} integers" if count else "a list of integers")
        if not isinstance(values, list) or (count is not None and len(values) != count):
            self.fail(key, f"must be {form}, not {values!r}")
        for value in values:
            self._typed(key, value, "an integer")
            if not low <= value <= high:
                self.fail(key, f"{value} in {values} is out of range {low}..{high}")
        return values


def _layer_keys(reader, kind):
    for key in reader.table:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_KEYS)}"
            reader.fail(None, f"unknown key {key!r}{hint}")
        if kind not in _KEYS[key]:
            reader.fail(key, f"does not apply to a {kind} layer")
    for key in _REQUIRED[kind]:
        if key not in reader.table:
            reader.fail(None, f"missing key {key!r} (a {kind} layer needs "
                              f"{', '.join(_REQUIRED[kind])})")


def _draw(rng, shape, density, magnitude):
    """Nonzeros uniform in ``+-1..magnitude`` at ``density``, zeros elsewhere."""
    values = rng.integers(1, magnitude + 1, shape) * rng.choice([-1, 1], shape)
    return (values * (rng.random(shape) < density)).astype(np.int64)


def _tensors(reader, key, need_input):
    """``input`` and ``weights`` from the layer's ``.npz`` (``input`` None when not needed)."""
    file = reader.path.parent / reader.value(key, "a string")
    try:
        with np.load(file) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as error:
        reader.fail(key, f"cannot read {str(file)!r}: {error}")
    needed = ("input", "weights") if need_input else ("weights",)
    for name in needed:
        if name not in arrays:
            reader.fail(key, f"{file.name} has no array {name!r} (it has {sorted(arrays)})")
    extra = sorted(set(arrays) - set(needed))
    if extra:
        reader.fail(key, f"{file.name} has arrays {extra} this layer does not use (it needs "
                         f"{list(needed)})")
    for name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.integer):
            reader.fail(key, f"{file.name}: {name} must be an integer array, not {array.dtype}")
    return arrays.get("input"), arrays["weights"]


def _check_array(reader, key, name, array, shape, bits):
    if tuple(array.shape) != tuple(shape):
        reader.fail(key, f"{name} has shape {list(array.shape)}, the layer needs {list(shape)}")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if array.size and (array.min() < low or array.max() > high):
        reader.fail(key, f"{name} values {array.min()}..{array.max()} do not fit {bits}-bit "
                         f"signed integers ({low}..{high})")
    return array.astype(np.int64)


def _accumulations(kind, i, f, stride, padding, groups, numerics):
    if kind == "fc":
        return fully_connected(i.reshape(-1), f, numerics=numerics)[None, None, :]
    # When no output's sum of |products| reaches the accumulator's limit, no partial sum
    # saturates, and the exact dense convolution is the golden result (much faster).
    bound = dense_conv2d(np.abs(i), np.abs(f), stride=stride, padding=padding, groups=groups)
    if bound.size == 0 or bound.max() <= numerics.acc_range[1]:
        return dense_conv2d(i, f, stride=stride, padding=padding, groups=groups)
    return conv2d(i, f, stride=stride, padding=padding, groups=groups, numerics=numerics)


def auto_requant(accumulations, relu, numerics=DEFAULT_NUMERICS):
    """POU parameters with ``bias = 0`` mapping each channel's largest ``|accumulation|`` closest
    to the largest activation (a channel with no nonzero gets ``mult = 1, shift = 0``)."""
    peak = np.abs(accumulations).reshape(-1, accumulations.shape[-1]).max(axis=0, initial=0)
    target = numerics.act_range[1]
    shifts = np.arange(numerics.shift_range[1] + 1)
    # For every channel and shift: the best mult, and how far it maps the peak from the target.
    wanted = target * np.exp2(shifts)[None, :] / np.maximum(peak, 1)[:, None]
    mults = np.clip(np.rint(wanted), 1, numerics.mult_range[1]).astype(np.int64)
    error = np.abs(peak[:, None] * mults / np.exp2(shifts)[None, :] - target)
    best = np.argmin(error, axis=1)
    mult = np.where(peak > 0, mults[np.arange(len(peak)), best], 1)
    shift = np.where(peak > 0, shifts[best], 0)
    return PouParams.make(np.zeros(len(peak), dtype=np.int64), mult, shift, relu=relu,
                          numerics=numerics)


def _read_layer(reader, kind, done, numerics):
    """The concrete :class:`WorkloadLayer` of one validated table."""
    r = reader
    name = r.value("name", "a string")
    if name in done or name == "":
        r.fail("name", f"{name!r} is empty or names an earlier layer; names must be unique")
    source = r.table["input"] if isinstance(r.table["input"], str) else None
    if source is not None:
        if source not in done:
            r.fail("input", f"{source!r} names no earlier layer (earlier: "
                            f"{', '.join(done) or 'none'})")
        H, W, C = done[source].output.shape
    else:
        H, W, C = r.ints("input", 3, 1, MAX_COLUMNS,
                         what="[H, W, C] (three integers) or the name of an earlier layer")
        if C > MAX_CHANNELS:
            r.fail("input", f"C = {C} is out of range 1..{MAX_CHANNELS}")
    seed = r.value("seed", "an integer", 0, 0, (1 << 63) - 1)
    relu = r.value("relu", "a boolean", True)

    stride, padding, groups, R, S = 1, (0, 0), 1, 1, 1
    if kind == "fc":
        if H * W * C > MAX_CHANNELS:
            r.fail("input", f"an fc layer's H*W*C = {H * W * C} is out of range 1..{MAX_CHANNELS}")
        K = r.value("out_channels", "an integer", None, 1, MAX_CHANNELS)
    else:
        R, S = r.ints("kernel", 2, 1, MAX_KERNEL, what="[R, S]")
        stride = r.value("stride", "an integer", 1, 1, MAX_STRIDE)
        if isinstance(r.table.get("padding"), list):
            padding = tuple(r.ints("padding", 2, 0, MAX_KERNEL - 1, what="an integer or [ph, pw]"))
        else:
            padding = (r.value("padding", "an integer", 0, 0, MAX_KERNEL - 1),) * 2
        if padding[0] >= R or padding[1] >= S:
            r.fail("padding", f"{list(padding)} must be at most [R - 1, S - 1] = "
                              f"[{R - 1}, {S - 1}]")
        if H + 2 * padding[0] < R or W + 2 * padding[1] < S:
            r.fail("kernel", f"{[R, S]} is larger than the padded input "
                             f"{[H + 2 * padding[0], W + 2 * padding[1]]}")
        if kind == "depthwise":
            groups = C
            K = r.value("out_channels", "an integer", C, 1, MAX_CHANNELS)
            if K % C:
                r.fail("out_channels", f"{K} must be a multiple of the input channels C = {C}")
        else:
            K = r.value("out_channels", "an integer", None, 1, MAX_CHANNELS)
            groups = r.value("groups", "an integer", 1, 1, MAX_CHANNELS)
            if C % groups or K % groups:
                r.fail("groups", f"{groups} must divide C = {C} and K = out_channels = {K}")
    weight_shape = (H * W * C, K) if kind == "fc" else (C // groups, R, K, S)

    densities = [key for key in ("weight_density", "activation_density") if r.has(key)]
    if r.has("tensors"):
        if densities:
            r.fail(densities[0], "does not apply when 'tensors' gives the layer's tensors")
        i, f = _tensors(r, "tensors", source is None)
        f = _check_array(r, "tensors", "weights", f, weight_shape, numerics.weight_bits)
        if source is None:
            i = _check_array(r, "tensors", "input", i, (H, W, C), numerics.act_bits)
    else:
        rng = np.random.default_rng(seed)
        if source is None:
            if not r.has("activation_density"):
                r.fail(None, "missing key 'activation_density' (or 'tensors')")
            density = r.value("activation_density", "a number", None, 0, 1)
            i = _draw(rng, (H, W, C), density, max(1, (1 << (numerics.act_bits - 4)) - 1))
        elif r.has("activation_density"):
            r.fail("activation_density", f"does not apply: the layer reads {source!r}'s output")
        if not r.has("weight_density"):
            r.fail(None, "missing key 'weight_density' (or 'tensors')")
        density = r.value("weight_density", "a number", None, 0, 1)
        f = _draw(rng, weight_shape, density, 1 << (numerics.weight_bits - 3))
    if source is not None:
        i = done[source].output

    acc = _accumulations(kind, i, f, stride, padding, groups, numerics)
    explicit = [key for key in ("bias", "mult", "shift") if r.has(key)]
    requant = r.value("requant", "a string", None if explicit else "auto")
    if requant is not None and requant != "auto":
        r.fail("requant", f"must be 'auto' (or give bias, mult and shift), not {requant!r}")
    if requant and explicit:
        r.fail(explicit[0], "does not apply with requant = 'auto'; give bias, mult and shift "
                            "without requant")
    if requant:
        pou = auto_requant(acc, relu, numerics)
    else:
        missing = [key for key in ("bias", "mult", "shift") if key not in explicit]
        if missing:
            r.fail(None, f"missing key {missing[0]!r} (explicit POU parameters need bias, mult "
                         "and shift)")
        ranges = {"bias": numerics.bias_range, "mult": numerics.mult_range,
                  "shift": numerics.shift_range}
        arrays = {key: r.ints(key, None, *ranges[key]) for key in ranges}
        for key, values in arrays.items():
            if len(values) != K:
                r.fail(key, f"has {len(values)} values, the layer has K = {K} output channels")
        pou = PouParams.make(relu=relu, numerics=numerics, **arrays)
    out = pou_dense(acc, pou, numerics=numerics)
    return WorkloadLayer(name, kind, np.asarray(i, dtype=np.int64), f, pou, stride, padding,
                         groups, source, seed, acc, out)


def load_workload(path, numerics=DEFAULT_NUMERICS):
    """Read and validate a workload file; its layers with concrete tensors and golden outputs.

    Raises
    ------
    WorkloadError
        One line naming the file, the layer and the key, for any invalid content.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise WorkloadError(f"{path}: cannot read the workload file: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise WorkloadError(f"{path}: not valid TOML: {error}") from None
    for key in document:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise WorkloadError(f"{path}: unknown top-level key {key!r}{hint} (a workload file "
                                "has 'description' and [[layer]] tables)")
    description = document.get("description", "")
    if not isinstance(description, str):
        raise WorkloadError(f"{path}: description must be a string, not {description!r}")
    tables = document.get("layer")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise WorkloadError(f"{path}: a workload file needs at least one [[layer]] table")
    done = {}
    for index, table in enumerate(tables):
        reader = _Reader(path, index, dict(table))
        if "type" not in table:
            reader.fail(None, f"missing key 'type' (one of {', '.join(LAYER_TYPES)})")
        kind = reader.value("type", "a string")
        if kind not in LAYER_TYPES:
            close = difflib.get_close_matches(kind, LAYER_TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            reader.fail("type", f"{kind!r} is not one of {', '.join(LAYER_TYPES)}{hint}")
        _layer_keys(reader, kind)
        if not isinstance(table["input"], (str, list)):
            reader.fail("input", f"must be [H, W, C] or the name of an earlier layer, not "
                                 f"{table['input']!r}")
        layer = _read_layer(reader, kind, done, numerics)
        done[layer.name] = layer
    return Workload(path, description, tuple(done.values()))
