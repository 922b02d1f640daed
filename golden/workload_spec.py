"""Workload files read and validated into plain layer specifications, with no tensors drawn.

The one reader of the workload format (``workloads/README.md``): the golden model
(:mod:`isosceles.golden.workload_file`) draws a layer's tensors from its :class:`LayerSpec`, the
performance model (:mod:`isosceles.perf.workload_file`) builds its layers from the same specs.
Every error is one line naming the file, the layer and the key.
"""

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from isosceles.golden.numerics import DEFAULT_NUMERICS

__all__ = ["WorkloadError", "LayerSpec", "WorkloadSpec", "read_workload_spec", "layer_error",
           "LAYER_TYPES", "WEIGHTED_LAYER_TYPES", "BLOCK_LAYER_TYPES", "POOL_TYPES",
           "MAX_KERNEL", "MAX_STRIDE", "MAX_COLUMNS", "MAX_CHANNELS"]

LAYER_TYPES = ("conv", "depthwise", "fc", "maxpool", "avgpool", "add")
WEIGHTED_LAYER_TYPES = ("conv", "depthwise", "fc")  # the layer types with weights and a POU
# The layer types the IS-OS block runs through its core: the pools as depthwise convolutions of
# unit weights (golden/layers.py, avg_pool_as_conv; golden/isos.py, max_pool_operands). It runs
# an add on its merge adders, the core bypassed.
BLOCK_LAYER_TYPES = (*WEIGHTED_LAYER_TYPES, "avgpool", "maxpool")
POOL_TYPES = ("maxpool", "avgpool")
MAX_KERNEL = 7   # the golden model's largest R, S
MAX_STRIDE = 3   # the block's largest stride
# The memory image's field limits (golden/memory_image.py; a test keeps them equal), repeated
# here because this module sits below it.
MAX_COLUMNS = 1 << 16
MAX_CHANNELS = 1 << 12

# key -> layer types it applies to
_KEYS = {
    "name": LAYER_TYPES, "type": LAYER_TYPES, "input": LAYER_TYPES,
    "kernel": ("conv", "depthwise", *POOL_TYPES), "out_channels": WEIGHTED_LAYER_TYPES,
    "stride": ("conv", "depthwise", *POOL_TYPES), "padding": ("conv", "depthwise", *POOL_TYPES),
    "groups": ("conv",), "weight_density": WEIGHTED_LAYER_TYPES,
    "activation_density": WEIGHTED_LAYER_TYPES, "tensors": WEIGHTED_LAYER_TYPES,
    "relu": WEIGHTED_LAYER_TYPES, "requant": WEIGHTED_LAYER_TYPES, "bias": WEIGHTED_LAYER_TYPES,
    "mult": WEIGHTED_LAYER_TYPES, "shift": WEIGHTED_LAYER_TYPES, "seed": WEIGHTED_LAYER_TYPES,
}
_REQUIRED = {
    "conv": ("name", "type", "input", "kernel", "out_channels"),
    "depthwise": ("name", "type", "input", "kernel"),
    "fc": ("name", "type", "input", "out_channels"),
    "maxpool": ("name", "type", "input", "kernel"),
    "avgpool": ("name", "type", "input", "kernel"),
    "add": ("name", "type", "input"),
}
_TOP_KEYS = ("description", "layer")


class WorkloadError(ValueError):
    """A workload file that cannot be read: one line naming the file, the layer and the key."""


def layer_error(path, label, key, problem):
    """The :class:`WorkloadError` ``"{path}: layer {label}: {key}: {problem}"`` (no key part when
    ``key`` is None); ``label`` is the layer's quoted name or ``#index``."""
    where = f"layer {label}" + (f": {key}" if key else "")
    return WorkloadError(f"{path}: {where}: {problem}")


@dataclass(frozen=True)
class LayerSpec:
    """One validated ``[[layer]]`` table.

    Members
    -------
    name, type : str
    input_shape : (H, W, C)
        For a layer reading ``source``, that layer's output shape.
    source : str or None
        The earlier layer whose output this layer reads, or None for its own input.
    kernel : (R, S)
        ``(1, 1)`` for ``fc`` and ``add``; a pooling window is square.
    out_channels, stride : int
    padding : (ph, pw)
    groups : int
    weight_density, activation_density : float or None
        None when ``tensors`` gives the tensors (``activation_density`` also for a ``source``).
    tensors : Path or None
        The ``.npz`` file, resolved against the workload file's folder.
    relu : bool
    requant : str or None
        ``"auto"``, or None when ``bias``, ``mult`` and ``shift`` (tuples of K ints) are given.
    bias, mult, shift : tuple of int or None
    seed : int
    skip : str or None
        ``add``: the second earlier layer it adds to ``source``'s output; None otherwise.
    """

    name: str
    type: str
    input_shape: tuple
    source: str | None
    kernel: tuple
    out_channels: int
    stride: int
    padding: tuple
    groups: int
    weight_density: float | None
    activation_density: float | None
    tensors: Path | None
    relu: bool
    requant: str | None
    bias: tuple | None
    mult: tuple | None
    shift: tuple | None
    seed: int
    skip: str | None = None

    @property
    def output_shape(self):
        """``(P, Q, K)``; ``(1, 1, K)`` for ``fc``; a pooling or ``add`` layer keeps ``C``."""
        if self.type == "fc":
            return (1, 1, self.out_channels)
        if self.type == "add":
            return self.input_shape
        (H, W, _), (R, S), (ph, pw) = self.input_shape, self.kernel, self.padding
        return ((H + 2 * ph - R) // self.stride + 1, (W + 2 * pw - S) // self.stride + 1,
                self.out_channels)

    @property
    def weight_shape(self):
        """``[C/groups, R, K, S]``; ``[H*W*C, K]`` for ``fc``; None for a layer without
        weights (pooling, ``add``)."""
        H, W, C = self.input_shape
        if self.type not in WEIGHTED_LAYER_TYPES:
            return None
        if self.type == "fc":
            return (H * W * C, self.out_channels)
        return (C // self.groups, self.kernel[0], self.out_channels, self.kernel[1])


@dataclass(frozen=True)
class WorkloadSpec:
    """The validated layers of one workload file, in file order."""

    path: Path
    description: str
    layers: tuple


class _Reader:
    """Validates one ``[[layer]]`` table; every error names the file, the layer and the key."""

    def __init__(self, path, index, table):
        self.path, self.table = path, table
        name = table.get("name")
        self.label = repr(name) if isinstance(name, str) and name else f"#{index + 1}"

    def fail(self, key, problem):
        raise layer_error(self.path, self.label, key, problem)

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


def _geometry(r, kind, H, W, C):
    """``(R, S), stride, padding, groups, K`` of one layer."""
    if kind == "fc":
        if H * W * C > MAX_CHANNELS:
            r.fail("input", f"an fc layer's H*W*C = {H * W * C} is out of range 1..{MAX_CHANNELS}")
        return (1, 1), 1, (0, 0), 1, r.value("out_channels", "an integer", None, 1, MAX_CHANNELS)
    if kind == "add":
        return (1, 1), 1, (0, 0), 1, C
    R, S = r.ints("kernel", 2, 1, MAX_KERNEL, what="[R, S]")
    if kind in POOL_TYPES and R != S:
        r.fail("kernel", f"{[R, S]}: a pooling window must be square")
    stride = r.value("stride", "an integer", R if kind in POOL_TYPES else 1, 1,
                     MAX_KERNEL if kind in POOL_TYPES else MAX_STRIDE)
    if isinstance(r.table.get("padding"), list):
        padding = tuple(r.ints("padding", 2, 0, MAX_KERNEL - 1, what="an integer or [ph, pw]"))
    else:
        padding = (r.value("padding", "an integer", 0, 0, MAX_KERNEL - 1),) * 2
    if padding[0] >= R or padding[1] >= S:
        r.fail("padding", f"{list(padding)} must be at most [R - 1, S - 1] = [{R - 1}, {S - 1}]")
    if H + 2 * padding[0] < R or W + 2 * padding[1] < S:
        r.fail("kernel", f"{[R, S]} is larger than the padded input "
                         f"{[H + 2 * padding[0], W + 2 * padding[1]]}")
    if kind in POOL_TYPES:
        if padding[0] != padding[1]:
            r.fail("padding", f"{list(padding)}: a pooling layer pads rows and columns alike")
        return (R, S), stride, padding, 1, C
    if kind == "depthwise":
        K = r.value("out_channels", "an integer", C, 1, MAX_CHANNELS)
        if K % C:
            r.fail("out_channels", f"{K} must be a multiple of the input channels C = {C}")
        return (R, S), stride, padding, C, K
    K = r.value("out_channels", "an integer", None, 1, MAX_CHANNELS)
    groups = r.value("groups", "an integer", 1, 1, MAX_CHANNELS)
    if C % groups or K % groups:
        r.fail("groups", f"{groups} must divide C = {C} and K = out_channels = {K}")
    return (R, S), stride, padding, groups, K


def _densities(r, source):
    """``weight_density, activation_density, tensors`` of one layer."""
    densities = [key for key in ("weight_density", "activation_density") if r.has(key)]
    if r.has("tensors"):
        if densities:
            r.fail(densities[0], "does not apply when 'tensors' gives the layer's tensors")
        return None, None, r.path.parent / r.value("tensors", "a string")
    activation = None
    if source is None:
        if not r.has("activation_density"):
            r.fail(None, "missing key 'activation_density' (or 'tensors')")
        activation = r.value("activation_density", "a number", None, 0, 1)
    elif r.has("activation_density"):
        r.fail("activation_density", f"does not apply: the layer reads {source!r}'s output")
    if not r.has("weight_density"):
        r.fail(None, "missing key 'weight_density' (or 'tensors')")
    return r.value("weight_density", "a number", None, 0, 1), activation, None


def _pou(r, K, numerics):
    """``requant, bias, mult, shift`` of one layer."""
    explicit = [key for key in ("bias", "mult", "shift") if r.has(key)]
    requant = r.value("requant", "a string", None if explicit else "auto")
    if requant is not None and requant not in ("auto", "tensors"):
        r.fail("requant", f"must be 'auto' or 'tensors' (or give bias, mult and shift), not "
                          f"{requant!r}")
    if requant == "tensors" and not r.has("tensors"):
        r.fail("requant", "'tensors' takes bias, mult and shift from the 'tensors' file; give "
                          "tensors = \"FILE.npz\"")
    if requant and explicit:
        r.fail(explicit[0], f"does not apply with requant = {requant!r}; give bias, mult and "
                            "shift without requant")
    if requant:
        return requant, None, None, None
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
    return None, tuple(arrays["bias"]), tuple(arrays["mult"]), tuple(arrays["shift"])


def _read_layer(r, kind, done, numerics):
    """The :class:`LayerSpec` of one table whose keys are known to apply."""
    name = r.value("name", "a string")
    if name in done or name == "":
        r.fail("name", f"{name!r} is empty or names an earlier layer; names must be unique")
    if kind == "add":
        return _read_add(r, name, done)
    source = r.table["input"] if isinstance(r.table["input"], str) else None
    if source is not None:
        if source not in done:
            r.fail("input", f"{source!r} names no earlier layer (earlier: "
                            f"{', '.join(done) or 'none'})")
        H, W, C = done[source].output_shape
    else:
        H, W, C = r.ints("input", 3, 1, MAX_COLUMNS,
                         what="[H, W, C] (three integers) or the name of an earlier layer")
        if C > MAX_CHANNELS:
            r.fail("input", f"C = {C} is out of range 1..{MAX_CHANNELS}")
    kernel, stride, padding, groups, K = _geometry(r, kind, H, W, C)
    if kind in POOL_TYPES:
        if source is None:
            r.fail("input", f"a {kind} layer reads an earlier layer's output: give its name, not "
                            f"{r.table['input']!r}")
        return LayerSpec(name, kind, (H, W, C), source, kernel, K, stride, padding, groups,
                         None, None, None, False, None, None, None, None, 0)
    seed = r.value("seed", "an integer", 0, 0, (1 << 63) - 1)
    relu = r.value("relu", "a boolean", True)
    weight_density, activation_density, tensors = _densities(r, source)
    requant, bias, mult, shift = _pou(r, K, numerics)
    return LayerSpec(name, kind, (H, W, C), source, kernel, K, stride, padding, groups,
                     weight_density, activation_density, tensors, relu, requant, bias, mult,
                     shift, seed)


def _read_add(r, name, done):
    """The :class:`LayerSpec` of an ``add`` layer: ``input`` names two earlier layers whose
    outputs have one shape."""
    sources = r.table["input"]
    if not (isinstance(sources, list) and len(sources) == 2
            and all(isinstance(s, str) for s in sources)):
        r.fail("input", f"an add layer reads two earlier layers, [\"a\", \"b\"], not {sources!r}")
    for source in sources:
        if source not in done:
            r.fail("input", f"{source!r} names no earlier layer (earlier: "
                            f"{', '.join(done) or 'none'})")
    first, second = (done[s].output_shape for s in sources)
    if first != second:
        r.fail("input", f"{sources[0]!r} gives {list(first)} and {sources[1]!r} gives "
                        f"{list(second)}; an add needs equal shapes")
    return LayerSpec(name, "add", first, sources[0], (1, 1), first[2], 1, (0, 0), 1, None, None,
                     None, False, None, None, None, None, 0, skip=sources[1])


def read_workload_spec(path, numerics=DEFAULT_NUMERICS):
    """Read and validate a workload file; its layers as :class:`LayerSpec` s.

    ``numerics`` bounds the explicit ``bias``, ``mult`` and ``shift`` values.

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
    return WorkloadSpec(path, description, tuple(done.values()))
