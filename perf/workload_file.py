"""User networks for the performance model, from the workload files of the IS-OS block.

:func:`isosceles.golden.workload_spec.read_workload_spec` reads and validates the file (the
format is in ``workloads/README.md``); this module turns its layer specs into the model's
:class:`~isosceles.perf.workloads.Layer` s, from shapes and densities. The POU keys and ``seed``
do not change the model's figures (the first layer's ``seed`` seeds the network's draws).

Where the densities come from:

* A file of densities: as given; a layer reading an earlier layer sees that layer's output at
  its expected density, the accumulations' ``1 - (1 - dw * din) ** (C/groups * R * S)``, times
  :data:`RELU_KEEPS` when a ReLU follows (it keeps the positive half of symmetric nonzero
  accumulations); a pool's output, :func:`~isosceles.perf.workloads.pooled_density`; an add's,
  nonzero where either input is (cancellation is ignored).
* A file that gives any layer's ``tensors`` (real tensors in an ``.npz``): every density is
  measured, the nonzero fraction of the golden model's tensors
  (:func:`isosceles.golden.workload_file.load_workload`: the given tensors, the drawn ones of
  the other layers, and every layer's output).

An ``add`` layer is folded into the layer that writes its later input, as the model's own
networks fold a ResNet's skip add into the convolution before it
(:attr:`~isosceles.perf.workloads.Layer.residual`): that layer, named ``"{layer}+{add}"``,
writes the sum, and its other input is the skip stream, held in the lane's queues when its
writer is in the same pipeline and read back from DRAM when it is not. The layer folded into
must be a convolution (``conv`` or ``depthwise``: its POU output is what the interconnect routes
to the skip-add merger) that nothing but the add reads.

What it refuses, with a one-line error naming the file, the layer and the key: a layer without
weights (``weight_density = 0``, or all-zero weights in ``tensors``), which does no work; and an
``add`` it cannot fold.

A rectangular kernel (``R != S``) or unequal padding is modelled: the model's ``Layer`` has
``kernel``, ``padding`` for the rows and ``kernel_cols``, ``padding_cols`` for the columns.
"""

from dataclasses import replace

import numpy as np

from isosceles.golden.workload_file import load_workload as load_golden_workload
from isosceles.golden.workload_spec import POOL_TYPES, layer_error, read_workload_spec
from isosceles.perf.workloads import (
    Layer,
    Tensor,
    Workload,
    accumulation_density,
    pooled_density,
)

__all__ = ["RELU_KEEPS", "EXPECTED_SOURCE", "MEASURED_SOURCE", "load_workload"]

RELU_KEEPS = 0.5
FOLDED_INTO = ("conv", "depthwise")  # layer types an add folds into

# Where a file's activation densities come from, for reports.
EXPECTED_SOURCE = ("workload file: inputs as given, later layers at the expected density of "
                   "their accumulations (halved by a ReLU)")
MEASURED_SOURCE = "workload file with tensors: measured on the golden model's tensors"


def _density(array):
    return float(np.count_nonzero(array)) / array.size


def _folds(path, specs):
    """``{layer: (add, skip)}``: the layer each ``add`` folds into, and its skip input."""
    order = {s.name: i for i, s in enumerate(specs)}
    by_name = {s.name: s for s in specs}
    readers = {}
    for s in specs:
        for source in dict.fromkeys((s.source, s.skip)):
            if source is not None:
                readers.setdefault(source, []).append(s.name)
    folds = {}
    for s in specs:
        if s.type != "add":
            continue

        def refuse(why, add=s):
            raise layer_error(path, repr(add.name), "input", why)

        if s.source == s.skip:
            refuse(f"adds {s.source!r} to itself; the performance model adds a skip stream to a "
                   "convolution's output, so give two different layers")
        main, skip = sorted((s.source, s.skip), key=order.get, reverse=True)
        fold = (f"the performance model folds an add into the layer that writes its later "
                f"input, {main!r}, as its own networks fold a ResNet's skip add into the "
                f"convolution before it")
        if by_name[main].type not in FOLDED_INTO:
            refuse(f"{fold}; {main!r} is a {by_name[main].type} layer, not a convolution")
        others = [name for name in readers[main] if name != s.name]
        if others:
            refuse(f"{fold}; {main!r} is also read by {others[0]!r}: have only the add read it")
        folds[main] = (s.name, skip)
    return folds


def _layer(path, spec, tensor, weight_density):
    """The model's :class:`Layer` of one layer spec reading ``tensor``."""
    if spec.type in POOL_TYPES:
        (R, _), (ph, _) = spec.kernel, spec.padding
        return Layer(spec.name, spec.type, tensor.name, tensor.rows, tensor.cols,
                     tensor.channels, tensor.channels, R, spec.stride, ph)
    if weight_density == 0:
        key, why = ("weight_density", "0 is outside the performance model's range (0, 1]") \
            if spec.tensors is None else ("tensors", "its weights are all zero")
        raise layer_error(path, repr(spec.name), key, f"{why}: a layer without weights does "
                                                      "no work; remove the layer")
    if spec.type == "fc":
        return Layer(spec.name, "fc", tensor.name, 1, 1, tensor.elements, spec.out_channels,
                     weight_density=weight_density)
    (R, S), (ph, pw) = spec.kernel, spec.padding
    return Layer(spec.name, "conv", tensor.name, tensor.rows, tensor.cols, tensor.channels,
                 spec.out_channels, R, spec.stride, ph, spec.groups, weight_density,
                 kernel_cols=S, padding_cols=pw)


def load_workload(path):
    """The network in the workload file ``path`` as a
    :class:`~isosceles.perf.workloads.Workload` named after the file.

    Raises
    ------
    isosceles.golden.workload_spec.WorkloadError
        One line naming the file, the layer and the key, for invalid content or a layer the
        model cannot represent.
    """
    spec = read_workload_spec(path)
    folds = _folds(spec.path, spec.layers)
    golden = None
    if any(s.tensors is not None for s in spec.layers):
        golden = {layer.name: layer for layer in load_golden_workload(spec.path).layers}
    inputs, outputs, layers = [], {}, []
    for s in spec.layers:
        if s.type == "add":  # folded into the layer that writes its later input
            continue
        if s.source is None:
            density = s.activation_density if golden is None else _density(golden[s.name].input)
            tensor = Tensor(f"{s.name}.input", *s.input_shape, density)
            inputs.append(tensor)
        else:
            tensor = outputs[s.source]
        weight_density = s.weight_density
        if golden is not None and golden[s.name].weights is not None:
            weight_density = _density(golden[s.name].weights)
        layer = _layer(spec.path, s, tensor, weight_density)
        if golden is not None:
            density = _density(golden[s.name].output)
        elif s.type in POOL_TYPES:
            density = pooled_density(tensor.density, layer.kernel * layer.kernel)
        else:
            density = accumulation_density(layer.products_per_output, weight_density,
                                           tensor.density) * (RELU_KEEPS if s.relu else 1.0)
        name = s.name
        if s.name in folds:
            name, skip = folds[s.name]
            layer = replace(layer, name=f"{s.name}+{name}", residual=outputs[skip].name)
            density = _density(golden[name].output) if golden is not None else \
                1 - (1 - density) * (1 - outputs[skip].density)
        outputs[name] = Tensor(layer.name, *s.output_shape, density)
        layers.append(layer)
    return Workload(spec.path.stem, spec.path.stem, tuple(layers),
                    tuple(inputs) + tuple(outputs.values()), spec.layers[0].seed,
                    EXPECTED_SOURCE if golden is None else MEASURED_SOURCE)
