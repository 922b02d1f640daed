"""User networks for the performance model, from the workload files of the IS-OS block.

:func:`isosceles.golden.workload_spec.read_workload_spec` reads and validates the file (the
format is in ``workloads/README.md``); this module turns its layer specs into the model's
:class:`~isosceles.perf.workloads.Layer` s, from shapes and densities. The POU keys and ``seed``
do not change the model's figures (the first layer's ``seed`` seeds the network's draws).

What the model needs that the format does not say:

* A layer reading an earlier layer sees that layer's output at its expected density: the
  accumulations' density ``1 - (1 - dw * din) ** (C/groups * R * S)``, times
  :data:`RELU_KEEPS` when a ReLU follows (it keeps the positive half of symmetric nonzero
  accumulations).

What it refuses, with a one-line error naming the file, the layer and the key:

* ``tensors`` (real tensors in an ``.npz``): the model works from densities.
* ``weight_density = 0``: a layer without weights is not a layer the model can cost.
* Average pooling and ``add`` layers (the model's own networks have them; its reader of
  workload files does not yet). A max pooling is read: its output density is
  :func:`~isosceles.perf.workloads.pooled_density` of its input's.

A rectangular kernel (``R != S``) or unequal padding is modelled: the model's ``Layer`` has
``kernel``, ``padding`` for the rows and ``kernel_cols``, ``padding_cols`` for the columns.
"""

from isosceles.golden.workload_spec import BLOCK_LAYER_TYPES, layer_error, read_workload_spec
from isosceles.perf.workloads import (
    Layer,
    Tensor,
    Workload,
    accumulation_density,
    pooled_density,
)

__all__ = ["RELU_KEEPS", "load_workload"]

RELU_KEEPS = 0.5


def _layer(path, spec, tensor):
    """The model's :class:`Layer` of one layer spec reading ``tensor``."""
    def refuse(key, why):
        raise layer_error(path, repr(spec.name), key, why)

    if spec.type == "maxpool":
        (R, _), (ph, _) = spec.kernel, spec.padding
        return Layer(spec.name, "maxpool", tensor.name, tensor.rows, tensor.cols,
                     tensor.channels, tensor.channels, R, spec.stride, ph)
    if spec.type not in BLOCK_LAYER_TYPES:
        refuse("type", f"{spec.type!r} layers are not read by the performance model yet; it "
                       f"reads {', '.join((*BLOCK_LAYER_TYPES, 'maxpool'))} layers")
    if spec.tensors is not None:
        refuse("tensors", "is not read by the performance model, which works from densities; "
                          "give weight_density and activation_density instead")
    if spec.weight_density == 0:
        refuse("weight_density", "0 is outside the performance model's range (0, 1]: a layer "
                                 "without weights does no work; remove the layer")
    if spec.type == "fc":
        return Layer(spec.name, "fc", tensor.name, 1, 1, tensor.elements, spec.out_channels,
                     weight_density=spec.weight_density)
    (R, S), (ph, pw) = spec.kernel, spec.padding
    return Layer(spec.name, "conv", tensor.name, tensor.rows, tensor.cols, tensor.channels,
                 spec.out_channels, R, spec.stride, ph, spec.groups, spec.weight_density,
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
    inputs, outputs, layers = [], {}, []
    for s in spec.layers:
        if s.source is None:
            tensor = Tensor(f"{s.name}.input", *s.input_shape, s.activation_density)
            inputs.append(tensor)
        else:
            tensor = outputs[s.source]
        layer = _layer(spec.path, s, tensor)
        if layer.kind == "maxpool":
            density = pooled_density(tensor.density, layer.kernel * layer.kernel_cols)
        else:
            density = accumulation_density(layer.products_per_output, s.weight_density,
                                           tensor.density) * (RELU_KEEPS if s.relu else 1.0)
        outputs[s.name] = Tensor(s.name, *s.output_shape, density)
        layers.append(layer)
    return Workload(spec.path.stem, spec.path.stem, tuple(layers),
                    tuple(inputs) + tuple(outputs.values()), spec.layers[0].seed)
