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
    requant = "auto"           # default; or bias = [...], mult = [...], shift = [...] (K each),
                               # or "tensors": arrays bias, mult, shift in the tensors file
    seed = 1                   # default 0

    [[layer]]
    name = "pool"
    type = "maxpool"           # or "avgpool": no weights, no POU; golden/layers.py's arithmetic
    input = "conv1"
    kernel = [2, 2]            # square; stride defaults to the window's size

    [[layer]]
    name = "skip"
    type = "add"               # saturating sum of two earlier layers' outputs of one shape
    input = ["conv1", "pool"]

Everything a layer needs is drawn from ``numpy.random.default_rng(seed)`` in a fixed order
(input, then weights), so the golden model and an RTL run see identical data. Nonzero activations
are uniform in ``+-(2**(act_bits-4) - 1)`` and nonzero weights in ``+-2**(weight_bits-3)``
(zero excluded), small enough that most partial sums stay inside ``acc_bits``. ``requant =
"auto"`` sets ``bias = 0`` and, per output channel, the ``mult`` and ``shift`` that map the
largest accumulation magnitude of that channel (in this layer's data) closest to the largest
activation. An ``fc`` layer reads its input ``[H, W, C]`` in ``(h, w, c)`` order and has weights
``[H*W*C, K]``.

:mod:`isosceles.golden.workload_spec` reads and validates the file; this module draws or loads the
tensors. Every error is one line naming the file, the layer and the key.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isosceles.golden.isos import max_pool_operands
from isosceles.golden.layers import (
    avg_pool,
    avg_pool_as_conv,
    fully_connected,
    max_pool,
    residual_add,
)
from isosceles.golden.memory_image import LayerImage
from isosceles.golden.network import (
    Add,
    Conv,
    FullyConnected,
    Network,
    Pool,
    conv_accumulations,
)
from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.workload_spec import (
    BLOCK_LAYER_TYPES,
    WEIGHTED_LAYER_TYPES,
    WorkloadError,
    layer_error,
    read_workload_spec,
)

__all__ = ["WorkloadError", "WorkloadLayer", "Workload", "load_workload", "auto_requant"]


@dataclass(frozen=True)
class WorkloadLayer:
    """One layer of a workload with its concrete tensors.

    Members
    -------
    name, type : str
    input : int64 array [H, W, C]
        For a layer that reads an earlier one (``source``), that layer's ``output``.
    weights : int64 array or None
        ``[C/groups, R, K, S]``; for ``fc``, ``[H*W*C, K]``; None for pooling and ``add``.
    pou : PouParams or None
        None for pooling and ``add``.
    stride : int
    padding : (int, int)
    groups : int
    source : str or None
        The earlier layer whose output this layer reads, or None for its own input.
    seed : int
    accumulations : int64 array [P, Q, K] or None
        What the block computes before the POU (``[1, 1, K]`` for ``fc``; None for pooling
        and ``add``).
    output : int64 array [P, Q, K]
        The layer's golden output, after the POU.
    kernel : (R, S)
    skip : str or None
        ``add``: the second layer it adds to ``source``'s output.
    addend : int64 array [H, W, C] or None
        ``add``: the output of ``skip``.
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
    kernel: tuple = (1, 1)
    skip: str = None
    addend: np.ndarray = None

    def conv_arguments(self, numerics=DEFAULT_NUMERICS):
        """``(input, filters, stride, padding, groups)`` of this layer as the block runs it: a
        fully connected layer is a 1x1 convolution of a 1x1 image with ``H*W*C`` channels; an
        average pool a depthwise convolution of unit weights
        (:func:`~isosceles.golden.layers.avg_pool_as_conv`), a max pooling one reduced by the
        maximum."""
        if self.type not in BLOCK_LAYER_TYPES:
            raise ValueError(f"layer {self.name!r} ({self.type}) is not run as a convolution; "
                             f"the block's core runs {', '.join(BLOCK_LAYER_TYPES)} layers")
        if self.type == "fc":
            return (self.input.reshape(1, 1, -1), self.weights[:, None, :, None], 1, (0, 0), 1)
        if self.type == "avgpool":
            return self._pool_as_conv(numerics)[:5]
        if self.type == "maxpool":
            C = self.input.shape[2]
            return (self.input, max_pool_operands(C, *self.kernel, numerics)[0], self.stride,
                    self.padding, C)
        return self.input, self.weights, self.stride, self.padding, self.groups

    def block_pou(self, numerics=DEFAULT_NUMERICS):
        """The POU parameters the block runs this layer with."""
        if self.type == "avgpool":
            return self._pool_as_conv(numerics)[5]
        if self.type == "maxpool":
            return max_pool_operands(self.input.shape[2], *self.kernel, numerics)[1]
        return self.pou

    def _pool_as_conv(self, numerics):
        (H, W, C), size = self.input.shape, self.kernel[0]
        ones, pou = avg_pool_as_conv(C, size=size, numerics=numerics)
        stride = self.stride
        if self.output.shape[:2] == (1, 1):
            # One window: any stride that still gives one output will do, and the smallest is
            # the one the block most likely runs.
            stride = max(H + 2 * self.padding[0], W + 2 * self.padding[1]) - size + 1
        return self.input, ones, stride, self.padding, C, pou

    def layout(self, image, *, input_area=None, input2_area=None, row_stride_words=None,
               numerics=DEFAULT_NUMERICS):
        """This layer laid out in ``image`` (a :class:`~isosceles.golden.memory_image.LayerImage`);
        ``input_area`` is the output area of the ``source`` layer, when it has one, and
        ``input2_area`` (``add``) that of the ``skip`` layer."""
        if self.type == "add":
            return LayerImage.add(image, self.input, self.addend, numerics=numerics,
                                  input_area=input_area, input2_area=input2_area,
                                  row_stride_words=row_stride_words, name=self.name)
        i, f, stride, padding, groups = self.conv_arguments(numerics)  # refuses what it cannot run
        if self.type == "maxpool":
            return LayerImage.maxpool(image, self.input, size=self.kernel, stride=self.stride,
                                      padding=self.padding, numerics=numerics,
                                      input_area=input_area, row_stride_words=row_stride_words,
                                      name=self.name)
        if self.type == "fc":
            return LayerImage.fc(image, self.input, self.weights, self.pou, numerics=numerics,
                                 input_area=input_area, row_stride_words=row_stride_words,
                                 name=self.name)
        return LayerImage.conv(image, i, f, self.block_pou(numerics), stride=stride,
                               padding=padding, groups=groups, numerics=numerics,
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

    def layout(self, image, numerics=DEFAULT_NUMERICS):
        """Every layer laid out in ``image`` for one run of the network: a layer that reads
        earlier layers reads their output areas in place, so the host writes only the inputs,
        filters and POU tables. The :class:`~isosceles.golden.memory_image.LayerImage` of each
        layer, in order."""
        outputs, placed = {}, []
        for layer in self.layers:
            placed.append(layer.layout(image, input_area=outputs.get(layer.source),
                                       input2_area=outputs.get(layer.skip), numerics=numerics))
            outputs[layer.name] = placed[-1].output
        return tuple(placed)

    def network(self, numerics=DEFAULT_NUMERICS):
        """The layers as a golden :class:`~isosceles.golden.network.Network`, to run on other
        inputs; only the first layer may have its own input (the network's)."""
        layers = []
        for index, layer in enumerate(self.layers):
            if index and layer.source is None:
                raise ValueError(f"{self.path}: layer {layer.name!r} has its own input; a "
                                 "network has one input, the first layer's")
            source = layer.source
            if layer.type == "fc":
                layers.append(FullyConnected(layer.name, layer.weights, layer.pou, input=source))
            elif layer.type == "add":
                layers.append(Add(layer.name, (layer.source, layer.skip)))
            elif layer.type in ("maxpool", "avgpool"):
                layers.append(Pool(layer.name, layer.type[:3], layer.kernel[0], layer.stride,
                                   layer.padding[0], input=source))
            else:
                layers.append(Conv(layer.name, layer.weights, layer.pou, layer.stride,
                                   layer.padding, layer.groups, input=source))
        return Network(tuple(layers), numerics)


def _draw(rng, shape, density, magnitude):
    """Nonzeros uniform in ``+-1..magnitude`` at ``density``, zeros elsewhere."""
    values = rng.integers(1, magnitude + 1, shape) * rng.choice([-1, 1], shape)
    return (values * (rng.random(shape) < density)).astype(np.int64)


def _fail(path, spec, problem):
    """An error in the layer's ``tensors`` file."""
    return layer_error(path, repr(spec.name), "tensors", problem)


def _tensors(path, spec, numerics):
    """``input`` (None for a layer reading ``source``), ``weights`` and, with ``requant =
    "tensors"``, the :class:`PouParams` (else None) from the layer's ``.npz``, checked against
    its shapes and the numerics."""
    file, need_input = spec.tensors, spec.source is None
    try:
        with np.load(file) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as error:
        raise _fail(path, spec, f"cannot read {str(file)!r}: {error}") from None
    needed = ("input", "weights") if need_input else ("weights",)
    if spec.requant == "tensors":
        needed += ("bias", "mult", "shift")
    for name in needed:
        if name not in arrays:
            raise _fail(path, spec, f"{file.name} has no array {name!r} (it has "
                                    f"{sorted(arrays)})")
    extra = sorted(set(arrays) - set(needed))
    if extra:
        raise _fail(path, spec, f"{file.name} has arrays {extra} this layer does not use (it "
                                f"needs {list(needed)})")
    for name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.integer):
            raise _fail(path, spec, f"{file.name}: {name} must be an integer array, not "
                                    f"{array.dtype}")
    checked = {"weights": (spec.weight_shape, numerics.weight_bits),
               "input": (spec.input_shape, numerics.act_bits)}
    for name in [name for name in ("weights", "input") if name in needed]:
        array, (shape, bits) = arrays[name], checked[name]
        if tuple(array.shape) != tuple(shape):
            raise _fail(path, spec, f"{name} has shape {list(array.shape)}, the layer needs "
                                    f"{list(shape)}")
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if array.size and (array.min() < low or array.max() > high):
            raise _fail(path, spec, f"{name} values {array.min()}..{array.max()} do not fit "
                                    f"{bits}-bit signed integers ({low}..{high})")
        arrays[name] = array.astype(np.int64)
    pou = None
    if spec.requant == "tensors":
        try:
            pou = PouParams.make(arrays["bias"], arrays["mult"], arrays["shift"], relu=spec.relu,
                                 numerics=numerics)
        except ValueError as error:
            raise _fail(path, spec, f"{file.name}: {error}") from None
        if len(pou.bias) != spec.out_channels:
            raise _fail(path, spec, f"{file.name}: bias, mult and shift have {len(pou.bias)} "
                                    f"values, the layer has K = {spec.out_channels}")
    return arrays.get("input"), arrays["weights"], pou


def _accumulations(kind, i, f, stride, padding, groups, numerics):
    if kind == "fc":
        return fully_connected(i.reshape(-1), f, numerics=numerics)[None, None, :]
    return conv_accumulations(i, f, stride=stride, padding=padding, groups=groups,
                              numerics=numerics)


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




def _unweighted(spec, done, numerics):
    """The :class:`WorkloadLayer` of a pooling or ``add`` layer."""
    i, addend = done[spec.source].output, None
    if spec.type == "add":
        addend = done[spec.skip].output
        out = residual_add(i, addend, numerics=numerics)
    else:
        pool = max_pool if spec.type == "maxpool" else avg_pool
        out = pool(i, size=spec.kernel[0], stride=spec.stride, padding=spec.padding[0],
                   numerics=numerics)
    return WorkloadLayer(spec.name, spec.type, i, None, None, spec.stride, spec.padding, 1,
                         spec.source, spec.seed, None, np.asarray(out, dtype=np.int64),
                         spec.kernel, spec.skip, addend)


def _network_input(path, spec, x, numerics):
    """``x`` as the first layer's input: an integer array of its input shape whose values fit
    ``act_bits``, or WorkloadError naming the problem."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer) or tuple(x.shape) != tuple(spec.input_shape):
        raise layer_error(path, repr(spec.name), "input",
                          f"the given input is {x.dtype} {list(x.shape)}; the layer takes "
                          f"integers of shape {list(spec.input_shape)}")
    low, high = numerics.act_range
    if x.size and (x.min() < low or x.max() > high):
        raise layer_error(path, repr(spec.name), "input",
                          f"the given input's values {x.min()}..{x.max()} do not fit "
                          f"act_bits = {numerics.act_bits} ({low}..{high})")
    return x.astype(np.int64)


def _layer(path, spec, done, numerics, network_input=None):
    """The concrete :class:`WorkloadLayer` of one :class:`LayerSpec` (``network_input``, when
    given, replaces its own input)."""
    if spec.type not in WEIGHTED_LAYER_TYPES:
        return _unweighted(spec, done, numerics)
    pou = None
    if spec.tensors is not None:
        i, f, pou = _tensors(path, spec, numerics)
    else:
        rng = np.random.default_rng(spec.seed)
        if spec.source is None:
            i = _draw(rng, spec.input_shape, spec.activation_density,
                      max(1, (1 << (numerics.act_bits - 4)) - 1))
        f = _draw(rng, spec.weight_shape, spec.weight_density, 1 << (numerics.weight_bits - 3))
    if spec.source is not None:
        i = done[spec.source].output
    if network_input is not None:
        i = network_input
    acc = _accumulations(spec.type, i, f, spec.stride, spec.padding, spec.groups, numerics)
    if spec.requant == "auto":
        pou = auto_requant(acc, spec.relu, numerics)
    elif pou is None:
        pou = PouParams.make(spec.bias, spec.mult, spec.shift, relu=spec.relu,
                             numerics=numerics)
    out = pou_dense(acc, pou, numerics=numerics)
    return WorkloadLayer(spec.name, spec.type, np.asarray(i, dtype=np.int64), f, pou,
                         spec.stride, spec.padding, spec.groups, spec.source, spec.seed, acc,
                         out, spec.kernel)


def load_workload(path, numerics=DEFAULT_NUMERICS, *, input=None):
    """Read and validate a workload file; its layers with concrete tensors and golden outputs.

    ``input``, an integer array ``[H, W, C]``, replaces the first layer's own input (the
    network's), to run the same network on another image.

    Raises
    ------
    WorkloadError
        One line naming the file, the layer and the key, for any invalid content.
    """
    spec = read_workload_spec(path, numerics)
    first = spec.layers[0]
    network_input = None if input is None else _network_input(spec.path, first, input, numerics)
    done = {}
    for layer in spec.layers:
        done[layer.name] = _layer(spec.path, layer, done, numerics,
                                  network_input if layer is first else None)
    return Workload(spec.path, spec.description, tuple(done.values()))
