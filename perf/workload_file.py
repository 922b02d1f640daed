"""User networks for the performance model, from the workload files of the IS-OS block.

:func:`isosceles.golden.workload_spec.read_workload_spec` reads and validates the file (the
format is in ``workloads/README.md``); this module turns its layer specs into the model's
:class:`~isosceles.perf.workloads.Layer` s, from shapes and densities. The POU keys and ``seed``
do not change the model's figures (the first layer's ``seed`` seeds the network's draws).

Densities are as given; a layer reading an earlier layer sees that layer's output at its
expected density: the accumulations' ``1 - (1 - dw * din) ** (C/groups * R * S)``, times
:data:`RELU_KEEPS` when a ReLU follows (it keeps the positive half of symmetric nonzero
accumulations); a pool's output, :func:`~isosceles.perf.workloads.pooled_density`; an add's,
nonzero where either input is (cancellation is ignored). Measured densities, passed to
:func:`load_workload`, replace these; a layer that gives its weights as ``tensors`` (real tensors
in an ``.npz``) needs its measured weight density (``isosceles model`` measures every density on
the golden model's tensors: :func:`isosceles.gen.model.load_network`).

An ``add`` layer is folded into the layer that writes its later input, as the model's own
networks fold a ResNet's skip add into the convolution before it
(:attr:`~isosceles.perf.workloads.Layer.residual`): that layer, named ``"{layer}+{add}"``,
writes the sum, and its other input is the skip stream, held in the lanes' queues when its
writer is in the same pipeline and read back from DRAM when it is not. The layer folded into
must be a convolution (``conv`` or ``depthwise``: its POU output is what the interconnect routes
to the skip-add merger) that nothing but the add reads.

What it refuses, with a one-line error naming the file, the layer and the key: a layer without
weights (``weight_density = 0``, or a measured density of 0), which does no work; ``tensors``
without a measured weight density; and an ``add`` it cannot fold.

A rectangular kernel (``R != S``) or unequal padding is modelled: the model's ``Layer`` has
``kernel``, ``padding`` for the rows and ``kernel_cols``, ``padding_cols`` for the columns.
"""

from dataclasses import replace

from isosceles.golden.workload_spec import POOL_TYPES, layer_error, read_workload_spec
from isosceles.perf.workloads import (
    Layer,
    Tensor,
    Workload,
    accumulation_density,
    pooled_density,
)

__all__ = ["RELU_KEEPS", "EXPECTED_SOURCE", "load_workload"]

RELU_KEEPS = 0.5
FOLDED_INTO = ("conv", "depthwise")  # layer types an add folds into

# Where a file's activation densities come from, for reports.
EXPECTED_SOURCE = ("workload file: inputs as given, later layers at the expected density of "
                   "their accumulations (halved by a ReLU)")


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


def _unmeasured(path, spec):
    return layer_error(path, repr(spec.name), "tensors", "the performance model works from "
                       "densities: measure them on the tensors (isosceles model does) or give "
                       "weight_density and activation_density instead")


def _layer(path, spec, tensor, weight_density):
    """The model's :class:`Layer` of one layer spec reading ``tensor``."""
    if spec.type in POOL_TYPES:
        (R, _), (ph, _) = spec.kernel, spec.padding
        return Layer(spec.name, spec.type, tensor.name, tensor.rows, tensor.cols,
                     tensor.channels, tensor.channels, R, spec.stride, ph)
    if weight_density is None:
        raise _unmeasured(path, spec)
    if weight_density == 0:
        key, zero = ("weight_density", "0") if spec.tensors is None else (
            "tensors", "the measured weight density 0")
        raise layer_error(path, repr(spec.name), key, f"{zero} is outside the performance "
                          "model's range (0, 1]: a layer without weights does no work; remove "
                          "the layer")
    if spec.type == "fc":
        return Layer(spec.name, "fc", tensor.name, 1, 1, tensor.elements, spec.out_channels,
                     weight_density=weight_density)
    (R, S), (ph, pw) = spec.kernel, spec.padding
    return Layer(spec.name, "conv", tensor.name, tensor.rows, tensor.cols, tensor.channels,
                 spec.out_channels, R, spec.stride, ph, spec.groups, weight_density,
                 kernel_cols=S, padding_cols=pw)


def _check_names(path, label, given, known):
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{path}: {label} for {', '.join(map(repr, unknown))}, which the file "
                         f"does not have; it has {', '.join(known)}")


def load_workload(path, *, weight_densities=None, activation_densities=None):
    """The network in the workload file ``path`` as a
    :class:`~isosceles.perf.workloads.Workload` named after the file.

    ``weight_densities`` (``{layer: density}``) and ``activation_densities`` (``{tensor:
    density}``, a tensor named by the layer that writes it, or ``"{layer}.input"`` for a layer's
    own input) are measured densities; they replace the given and the expected ones.

    Raises
    ------
    isosceles.golden.workload_spec.WorkloadError
        One line naming the file, the layer and the key, for invalid content or a layer the
        model cannot represent.
    ValueError
        A measured density for a layer or tensor the file does not have.
    """
    spec = read_workload_spec(path)
    weights = dict(weight_densities or {})
    measured = dict(activation_densities or {})
    _check_names(spec.path, "weight densities", weights,
                 [s.name for s in spec.layers if s.weight_shape is not None])
    _check_names(spec.path, "activation densities", measured,
                 [f"{s.name}.input" for s in spec.layers if s.source is None]
                 + [s.name for s in spec.layers])
    folds = _folds(spec.path, spec.layers)
    inputs, outputs, layers = [], {}, []
    for s in spec.layers:
        if s.type == "add":  # folded into the layer that writes its later input
            continue
        if s.source is None:
            name = f"{s.name}.input"
            density = measured.get(name, s.activation_density)
            if density is None:
                raise _unmeasured(spec.path, s)
            tensor = Tensor(name, *s.input_shape, density)
            inputs.append(tensor)
        else:
            tensor = outputs[s.source]
        layer = _layer(spec.path, s, tensor, weights.get(s.name, s.weight_density))
        if s.type in POOL_TYPES:
            density = pooled_density(tensor.density, layer.kernel * layer.kernel)
        else:
            density = accumulation_density(layer.products_per_output, layer.weight_density,
                                           tensor.density) * (RELU_KEEPS if s.relu else 1.0)
        density = measured.get(s.name, density)
        name = s.name
        if s.name in folds:
            name, skip = folds[s.name]
            layer = replace(layer, name=f"{s.name}+{name}", residual=outputs[skip].name)
            density = measured.get(name, 1 - (1 - density) * (1 - outputs[skip].density))
        outputs[name] = Tensor(layer.name, *s.output_shape, density)
        layers.append(layer)
    source = EXPECTED_SOURCE
    if measured:
        count = len(inputs) + len(spec.layers)  # the file's tensors, folded ones included
        source = f"workload file: {len(measured)} of {count} tensors at measured densities"
        if len(measured) < count:
            source += f"; the rest: {EXPECTED_SOURCE.removeprefix('workload file: ')}"
    return Workload(spec.path.stem, spec.path.stem, tuple(layers),
                    tuple(inputs) + tuple(outputs.values()), spec.layers[0].seed, source)
