"""A small sparse CNN description with a bit-exact run and its compulsory off-chip traffic.

Layers name their input(s), so skip connections are explicit: an :class:`Add` takes two earlier
layers. Activations are ``act_bits`` integers [H, W, C]; convolutions and fully connected layers
end in a POU (bias, requantisation, ReLU) with their own :class:`PouParams`.
"""

from dataclasses import dataclass

import numpy as np

from isosceles.golden.checks import check_tensor
from isosceles.golden.csf import csf_encode
from isosceles.golden.isos import conv2d
from isosceles.golden.layers import (
    avg_pool,
    fully_connected,
    global_avg_pool,
    max_pool,
    residual_add,
)
from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.reference import dense_conv2d

__all__ = ["Conv", "Pool", "GlobalAvgPool", "FullyConnected", "Add", "Network",
           "conv_accumulations"]


def conv_accumulations(i, f, *, stride=1, padding=0, groups=1, numerics=DEFAULT_NUMERICS):
    """:func:`~isosceles.golden.isos.conv2d`'s accumulations [P, Q, K], by the dense reference
    when no partial sum can saturate."""
    i = check_tensor("i", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    f = check_tensor("f", f, ndim=4, bits=numerics.weight_bits, form="[C/groups, R, K, S]")
    # When no output's sum of |products| reaches the accumulator's limit, no partial sum
    # saturates, and the exact dense convolution is the golden result (much faster).
    bound = dense_conv2d(np.abs(i), np.abs(f), stride=stride, padding=padding, groups=groups)
    if bound.size == 0 or bound.max() <= numerics.acc_range[1]:
        return dense_conv2d(i, f, stride=stride, padding=padding, groups=groups)
    return conv2d(i, f, stride=stride, padding=padding, groups=groups, numerics=numerics)


@dataclass(frozen=True)
class Conv:
    name: str
    weights: np.ndarray  # [C/groups, R, K, S]
    pou: PouParams
    stride: int = 1
    padding: int = 0
    groups: int = 1
    input: str = None


@dataclass(frozen=True)
class Pool:
    name: str
    kind: str  # "max" or "avg"
    size: int
    stride: int = None
    padding: int = 0
    input: str = None


@dataclass(frozen=True)
class GlobalAvgPool:
    name: str
    input: str = None


@dataclass(frozen=True)
class FullyConnected:
    name: str
    weights: np.ndarray  # [C, K], C the flattened input in (h, w, c) order
    pou: PouParams
    input: str = None


@dataclass(frozen=True)
class Add:
    name: str
    inputs: tuple  # two earlier layer names


@dataclass(frozen=True)
class Network:
    """Layers in execution order; a layer without ``input`` reads the previous one (or the
    network input, named ``"input"``)."""

    layers: tuple
    numerics: object = DEFAULT_NUMERICS

    def __post_init__(self):
        seen = {"input"}
        for layer in self.layers:
            for source in self._sources(layer):
                if source not in seen:
                    raise ValueError(f"layer {layer.name!r} reads {source!r}, which comes later "
                                     f"or does not exist; earlier layers are {sorted(seen)}")
            if isinstance(layer, Pool) and layer.kind not in ("max", "avg"):
                raise ValueError(f"layer {layer.name!r}: kind must be 'max' or 'avg'")
            seen.add(layer.name)

    def _sources(self, layer):
        if isinstance(layer, Add):
            return tuple(layer.inputs)
        if layer.input is not None:
            return (layer.input,)
        index = self.layers.index(layer)
        return (self.layers[index - 1].name if index else "input",)

    def run(self, x):
        """Every layer's output (int64 arrays), by name, bit-exact with the hardware."""
        n = self.numerics
        values = {"input": np.asarray(x)}
        for layer in self.layers:
            inputs = [values[source] for source in self._sources(layer)]
            if isinstance(layer, Conv):
                acc = conv_accumulations(inputs[0], layer.weights, stride=layer.stride,
                                         padding=layer.padding, groups=layer.groups, numerics=n)
                out = pou_dense(acc, layer.pou, numerics=n)
            elif isinstance(layer, Pool):
                pool = max_pool if layer.kind == "max" else avg_pool
                out = pool(inputs[0], size=layer.size, stride=layer.stride,
                           padding=layer.padding, numerics=n)
            elif isinstance(layer, GlobalAvgPool):
                out = global_avg_pool(inputs[0], numerics=n)[None, None, :]
            elif isinstance(layer, FullyConnected):
                acc = fully_connected(inputs[0].reshape(-1), layer.weights, numerics=n)
                out = pou_dense(acc, layer.pou, numerics=n)[None, None, :]
            else:
                out = residual_add(inputs[0], inputs[1], numerics=n)
            values[layer.name] = np.asarray(out, dtype=np.int64)
        return values

    def offchip_bytes(self, x, *, coord_bits=16, pointer_bits=32):
        """Compulsory off-chip bytes of each layer run on its own: its input(s) read, its
        weights read and its output written, all in CSF at the declared widths."""
        values = self.run(x)
        n = self.numerics

        def csf_bytes(array, ranks, bits):
            return csf_encode(array, ranks).nbytes(value_bits=bits, coord_bits=coord_bits,
                                                   pointer_bits=pointer_bits)

        report = []
        for layer in self.layers:
            inputs = sum(csf_bytes(values[s], "HWC", n.act_bits)
                         for s in self._sources(layer))
            weights = 0
            if isinstance(layer, Conv):
                weights = csf_bytes(layer.weights, "CRKS", n.weight_bits)
            elif isinstance(layer, FullyConnected):
                weights = csf_bytes(layer.weights, "CK", n.weight_bits)
            output = csf_bytes(values[layer.name], "PQK", n.act_bits)
            report.append({"layer": layer.name, "input_bytes": inputs, "weight_bytes": weights,
                           "output_bytes": output})
        return report
