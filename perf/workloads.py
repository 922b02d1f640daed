"""Layer tables of the paper's 11 sparse CNNs, with per-layer weight and activation densities.

The performance models (:mod:`isosceles.perf.isosceles_model`) work from these tables analytically:
a layer's effectual work is its dense work times the densities of its operands, and every tensor's
nonzeros are spread at random (i.i.d.) over its positions. The only random draws are seeded and
deterministic: the ResNet-50 activation densities and the nonzeros of each activation row.

Networks (ImageNet, 224 x 224 input, batch 1): ResNet-50 (torchvision v1.5, stride in the 3x3
convolution), MobileNetV1 (width 1.0), VGG-16 (with its three fully connected layers) and
GoogLeNet's Inception-3a block (input 28 x 28 x 192).

Weight densities, per variant (the paper's names; where they come from):

====  ==========================================================================================
R81   STR (Kusupati et al., ICML 2020) ResNet-50 per-layer budgets, the 81.27 % model. The
R90   budgets are published in ``budgets/STR_Budgets_ResNet50.csv`` of github.com/RAIVNLab/STR;
R95   we use the columns 81.27, 90.23, 95.15, 96.11, 98.05 and 98.98 % (the released models,
R96   except R96: the released 96.53 % model would round to 97, so R96 is the 96.11 % budget).
R98   STR prunes the first convolution too (51 to 76 % sparse), so it is not kept dense.
R99   Transcription check: the table reproduces STR's overall sparsity and sparse MACs.
M75   STR MobileNetV1 75.28 % and 89.01 % (1.04 M / 0.46 M weights, 101 M / 42 M MACs). STR's
M89   per-layer budgets for MobileNetV1 are in its appendix, which we do not have; we take the
      per-layer densities from an ERK profile (Evci et al., ICML 2020) tilted by the layer's
      output positions, ``min(1, a * erk * positions**-gamma)``, with ``a`` and ``gamma`` solved
      so that both published totals (weights and sparse MACs) are met.
V68   Han et al. (NeurIPS 2015), Table 5: VGG-16 per-layer weight and activation densities.
      Its convolutions are 67.3 % sparse overall, which is the paper's "68 %".
V90   Han's profile raised to the power that makes the convolutions 90 % sparse (the ranking
      and the relative density of the layers are kept); Han's activation densities.
G58   Uniform: every layer 58 % sparse; no published per-layer figures were found.
====  ==========================================================================================

Activation densities: the network input is dense. ResNet-50 convolution outputs get a seeded
draw, uniform in 0.2 to 0.8 (the paper's "20-80 % activation sparsity per layer"); VGG-16 uses
Han et al.'s measured densities of its convolution outputs; MobileNetV1 and Inception-3a use 0.5
after every ReLU. All of these but Han's are synthetic. A tensor that is not followed by a ReLU (a
ResNet projection shortcut before the residual add) has the density of its accumulations: the
chance that at least one effectual product lands on an output,
``1 - (1 - dw * din) ** (C/groups * R * S)``. A max or average pool (global ones included) of
non-negative i.i.d. inputs is nonzero when any input of its window is: ``1 - (1 - din) ** window``
(for VGG-16 this is above what Han's FLOP column assumes, the pooled tensor at the convolution's
density; real activations are spatially correlated, so the truth lies between the two).
"""

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

__all__ = [
    "Tensor",
    "Layer",
    "Workload",
    "VARIANTS",
    "NETWORK_OF",
    "ACTIVATION_SOURCE",
    "workload",
    "workloads",
    "layer_workload",
    "parse_variants",
]

LAYER_KINDS = ("conv", "gap", "fc", "maxpool", "avgpool")

# Variant -> network it prunes.
NETWORK_OF = {
    "R81": "ResNet-50", "R90": "ResNet-50", "R95": "ResNet-50", "R96": "ResNet-50",
    "R98": "ResNet-50", "R99": "ResNet-50",
    "M75": "MobileNetV1", "M89": "MobileNetV1",
    "V68": "VGG-16", "V90": "VGG-16",
    "G58": "GoogLeNet Inception-3a",
}
VARIANTS = tuple(NETWORK_OF)

# Network -> where its activation densities come from, for reports to print beside the figures.
ACTIVATION_SOURCE = {
    "ResNet-50": "synthetic: a seeded uniform draw in 0.2-0.8 per tensor",
    "MobileNetV1": "synthetic: 0.5 after every ReLU",
    "VGG-16": "measured: Han et al. 2015, Table 5, per layer",
    "GoogLeNet Inception-3a": "synthetic: 0.5 after every ReLU",
}


@dataclass(frozen=True)
class Tensor:
    """An activation tensor ``[rows, cols, channels]`` with i.i.d. nonzeros at ``density``."""

    name: str
    rows: int
    cols: int
    channels: int
    density: float

    @property
    def elements(self):
        return self.rows * self.cols * self.channels

    @property
    def nonzeros(self):
        return self.elements * self.density


@dataclass(frozen=True)
class Layer:
    """One layer, reading tensor ``input`` and writing tensor ``name``.

    ``kind`` is ``"conv"`` (grouped and depthwise included), ``"gap"`` (global average pooling,
    which the paper runs as a depthwise convolution whose kernel is the whole input; its constant
    weights are not stored), ``"fc"`` (the input tensor flattened into ``in_channels``),
    ``"maxpool"`` or ``"avgpool"``. ``residual`` names a
    tensor added to the output before the activation (a ResNet skip connection). ``block``
    names the network block the layer belongs to (a ResNet bottleneck, a MobileNet depthwise
    separable pair, an Inception module), for pipelining policies that cut only between blocks;
    ``None`` for a layer that is a block of its own. ``kernel`` and ``padding`` are the rows'
    (``R``, ``ph``); ``kernel_cols`` and ``padding_cols`` the columns' (``S``, ``pw``), equal to
    the rows' unless given.
    """

    name: str
    kind: str
    input: str
    in_rows: int
    in_cols: int
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    weight_density: float = 1.0
    residual: str = None
    block: str = None
    kernel_cols: int = None
    padding_cols: int = None

    def __post_init__(self):
        if self.kernel_cols is None:
            object.__setattr__(self, "kernel_cols", self.kernel)
        if self.padding_cols is None:
            object.__setattr__(self, "padding_cols", self.padding)
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"kind must be one of {LAYER_KINDS}, not {self.kind!r}")
        if not 0 < self.weight_density <= 1:
            raise ValueError(f"layer {self.name!r}: weight_density must be in (0, 1], "
                             f"not {self.weight_density!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"layer {self.name!r}: groups must divide the channel counts")

    @property
    def out_rows(self):
        return (self.in_rows + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_cols(self):
        return (self.in_cols + 2 * self.padding_cols - self.kernel_cols) // self.stride + 1

    @property
    def has_weights(self):
        """Whether the layer reads stored (prunable) weights."""
        return self.kind in ("conv", "fc")

    @property
    def multiplies(self):
        """Whether the layer runs on the MACs (convolutions, global pooling, FC)."""
        return self.kind in ("conv", "gap", "fc")

    @property
    def products_per_output(self):
        """Dense multiply-accumulates that make one output (``C/groups * R * S``)."""
        return self.in_channels // self.groups * self.kernel * self.kernel_cols

    @property
    def weights(self):
        """Dense weight count ``C/groups * R * K * S`` (0 for pooling)."""
        return self.products_per_output * self.out_channels if self.has_weights else 0

    @property
    def outputs(self):
        return self.out_rows * self.out_cols * self.out_channels

    @property
    def dense_macs(self):
        return self.outputs * self.products_per_output if self.multiplies else 0


@dataclass(frozen=True)
class Workload:
    """One of the paper's sparse CNNs: its layers in execution order and its tensors.

    Members
    -------
    name : str
        The paper's variant name (``"R96"``).
    network : str
        The network it prunes.
    layers : tuple of Layer
    tensors : tuple of Tensor
        Every activation tensor: the network inputs (tensors no layer writes; ``"input"`` in
        the paper's networks) first.
    seed : int
        Seed of the activation-density and row-nonzero draws.
    activation_source : str or None
        Where the activation densities come from, for reports; None: the network's entry in
        :data:`ACTIVATION_SOURCE`.
    """

    name: str
    network: str
    layers: tuple
    tensors: tuple
    seed: int
    activation_source: str = None

    def __post_init__(self):
        by_name = {t.name: t for t in self.tensors}
        for layer in self.layers:
            for source in (layer.input, layer.residual):
                if source is not None and source not in by_name:
                    raise ValueError(f"layer {layer.name!r} reads unknown tensor {source!r}")
        object.__setattr__(self, "_by_name", by_name)

    def tensor(self, name):
        return self._by_name[name]

    def input_density(self, layer):
        return self.tensor(layer.input).density

    def effectual_macs(self, layer):
        """Expected multiplications with both operands nonzero."""
        return layer.dense_macs * layer.weight_density * self.input_density(layer)

    @property
    def dense_macs(self):
        return sum(layer.dense_macs for layer in self.layers)

    @property
    def sparse_macs(self):
        return sum(self.effectual_macs(layer) for layer in self.layers)

    @property
    def weight_count(self):
        return sum(layer.weights for layer in self.layers)

    @property
    def weight_nonzeros(self):
        return sum(layer.weights * layer.weight_density for layer in self.layers)

    def conv_weight_sparsity(self):
        """Weight sparsity of the convolutions alone (how the paper names the VGG variants)."""
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        return 1 - (sum(layer.weights * layer.weight_density for layer in convs)
                    / sum(layer.weights for layer in convs))

    @property
    def outputs(self):
        """Tensors no layer reads: the network's results."""
        read = {layer.input for layer in self.layers} | {
            layer.residual for layer in self.layers if layer.residual}
        return tuple(t.name for t in self.tensors if t.name not in read
                     and t.name not in self.inputs)

    @property
    def inputs(self):
        """Tensors no layer writes: the network's inputs."""
        written = {layer.name for layer in self.layers}
        return tuple(t.name for t in self.tensors if t.name not in written)

    def consumers(self, tensor):
        return tuple(layer for layer in self.layers
                     if tensor in (layer.input, layer.residual))

    def row_nonzeros(self, tensor):
        """Seeded draw of the nonzeros in each row of ``tensor`` (binomial, i.i.d. positions)."""
        t = self.tensor(tensor)
        return _row_draw(self.seed, f"{self.network}/{t.name}", t.rows, t.cols * t.channels,
                         t.density)

    def scaled(self, weight_scale=1.0, activation_scale=1.0):
        """A copy with every weight and activation density (except the network inputs)
        multiplied by a factor (capped at 1): for sensitivity studies and model checks."""
        for label, scale in (("weight_scale", weight_scale),
                             ("activation_scale", activation_scale)):
            if not scale > 0:
                raise ValueError(f"{label} must be positive, not {scale!r}")
        layers = tuple(replace(layer, weight_density=min(1.0, layer.weight_density * weight_scale))
                       if layer.has_weights else layer for layer in self.layers)
        tensors = tuple(t if t.name in self.inputs else
                        replace(t, density=min(1.0, t.density * activation_scale))
                        for t in self.tensors)
        return Workload(self.name, self.network, layers, tensors, self.seed,
                        self.activation_source)


@lru_cache(maxsize=4096)
def _row_draw(seed, key, rows, per_row, density):
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    draw = rng.binomial(per_row, density, size=rows)
    draw.flags.writeable = False
    return draw


def _uniform_draw(seed, key, low, high):
    return float(np.random.default_rng([seed, zlib.crc32(key.encode())]).uniform(low, high))


def accumulation_density(products, weight_density, input_density):
    """Chance that at least one of ``products`` candidate products is effectual."""
    return 1.0 - (1.0 - weight_density * input_density) ** products


def pooled_density(input_density, window):
    """Density of a max or average pool over ``window`` non-negative (post-ReLU) i.i.d. inputs:
    an output is nonzero when any input of its window is."""
    return 1.0 - (1.0 - input_density) ** window


class _Builder:
    """Appends layers in execution order and creates their output tensors."""

    def __init__(self, name, network, seed, *, input_shape=(224, 224, 3), densities=()):
        self.name, self.network, self.seed = name, network, seed
        self.densities = dict(densities)  # tensor -> activation density given by the user
        self.layers = []
        self.tensors = {"input": Tensor("input", *input_shape, self.densities.get("input", 1.0))}

    def add(self, layer, density):
        self.layers.append(layer)
        rows, cols = (1, 1) if layer.kind == "fc" else (layer.out_rows, layer.out_cols)
        density = self.densities.get(layer.name, density)
        self.tensors[layer.name] = Tensor(layer.name, rows, cols, layer.out_channels, density)
        return layer.name

    def conv(self, name, source, k, *, kernel=1, stride=1, padding=None, groups=1,
             weight_density=1.0, density, residual=None, block=None):
        t = self.tensors[source]
        layer = Layer(name, "conv", source, t.rows, t.cols, t.channels, k, kernel, stride,
                      kernel // 2 if padding is None else padding, groups, weight_density,
                      residual, block)
        if density is None:  # no ReLU follows: the accumulations' density
            density = accumulation_density(layer.products_per_output, weight_density, t.density)
        return self.add(layer, density)

    def pool(self, name, source, kind, *, kernel, stride, padding=0):
        t = self.tensors[source]
        layer = Layer(name, kind, source, t.rows, t.cols, t.channels, t.channels, kernel, stride,
                      padding)
        return self.add(layer, pooled_density(t.density, kernel * kernel))

    def global_avg_pool(self, name, source):
        t = self.tensors[source]
        layer = Layer(name, "gap", source, t.rows, t.cols, t.channels, t.channels, t.rows,
                      groups=t.channels)
        return self.add(layer, pooled_density(t.density, t.rows * t.cols))

    def fc(self, name, source, k, *, weight_density, density):
        t = self.tensors[source]
        layer = Layer(name, "fc", source, 1, 1, t.elements, k, weight_density=weight_density)
        return self.add(layer, density)

    def build(self):
        unknown = sorted(set(self.densities) - set(self.tensors))
        if unknown:
            raise ValueError(f"densities for {self.name}: no tensor named {', '.join(unknown)}; "
                             f"the tensors are {', '.join(self.tensors)}")
        return Workload(self.name, self.network, tuple(self.layers), tuple(self.tensors.values()),
                        self.seed)


# --- ResNet-50 ----------------------------------------------------------------------------------

# STR per-layer weight sparsity (%) of ResNet-50, columns R81 R90 R95 R96 R98 R99 (the STR budgets
# 81.27, 90.23, 95.15, 96.11, 98.05, 98.98 %), from RAIVNLab/STR budgets/STR_Budgets_ResNet50.csv.
STR_RESNET50_SPARSITY = {
    "conv1": (51.4, 59.8, 66.96, 72.11, 73.47, 76.12),
    "layer1.0.conv1": (73.24, 83.28, 91.11, 92.38, 94.51, 96.53),
    "layer1.0.conv2": (76.26, 89.48, 95.04, 95.69, 97.77, 98.59),
    "layer1.0.conv3": (74.65, 85.8, 93.67, 94.13, 97.03, 98.21),
    "layer1.0.downsample.0": (72.96, 83.34, 90.17, 91.83, 94.89, 97.56),
    "layer1.1.conv1": (79.58, 89.89, 95.78, 95.81, 98.9, 99.62),
    "layer1.1.conv2": (80.95, 90.6, 96.18, 96.42, 99.07, 99.31),
    "layer1.1.conv3": (80.11, 91.7, 95.81, 96.34, 98.76, 99.57),
    "layer1.2.conv1": (79.79, 88.07, 94.74, 96.23, 98.41, 99.35),
    "layer1.2.conv2": (81.53, 87.03, 94.26, 96.24, 98.27, 99.19),
    "layer1.2.conv3": (83.28, 90.99, 96.01, 96.87, 98.6, 99.27),
    "layer2.0.conv1": (73.96, 85.95, 93.86, 94.62, 98.22, 98.84),
    "layer2.0.conv2": (85.7, 93.91, 97.65, 98.38, 99.23, 99.67),
    "layer2.0.conv3": (83.55, 93.13, 97.21, 97.59, 98.95, 99.47),
    "layer2.0.downsample.0": (87.66, 94.96, 98.15, 98.7, 99.35, 99.68),
    "layer2.1.conv1": (85.79, 95.31, 98.21, 98.84, 99.53, 99.81),
    "layer2.1.conv2": (82.75, 91.5, 96.07, 97.32, 98.24, 99.66),
    "layer2.1.conv3": (84.71, 93.66, 97.35, 98.06, 99.21, 99.58),
    "layer2.2.conv1": (85.34, 94.61, 98.21, 98.54, 99.35, 99.63),
    "layer2.2.conv2": (85.43, 94.86, 98.11, 98.19, 99.37, 99.59),
    "layer2.2.conv3": (84.21, 93.38, 97.59, 97.77, 99.15, 99.51),
    "layer2.3.conv1": (84.41, 93.26, 96.99, 98.14, 99.23, 99.75),
    "layer2.3.conv2": (84.03, 93.21, 96.96, 98.45, 99.06, 99.81),
    "layer2.3.conv3": (85.65, 94.14, 97.04, 98.16, 98.97, 99.67),
    "layer3.0.conv1": (77.98, 88.85, 94.97, 96.21, 98.04, 99.11),
    "layer3.0.conv2": (88.68, 96.14, 98.72, 99.11, 99.59, 99.8),
    "layer3.0.conv3": (83.22, 93.19, 97.32, 97.98, 99.03, 99.55),
    "layer3.0.downsample.0": (90.99, 97.2, 99.2, 99.5, 99.82, 99.94),
    "layer3.1.conv1": (87.35, 95.36, 98.87, 99.22, 99.67, 99.88),
    "layer3.1.conv2": (86.24, 95.06, 98.36, 98.75, 99.48, 99.76),
    "layer3.1.conv3": (86.79, 94.84, 98.11, 98.56, 99.36, 99.79),
    "layer3.2.conv1": (89.15, 96.77, 98.96, 99.19, 99.71, 99.85),
    "layer3.2.conv2": (88.67, 95.59, 98.91, 99.21, 99.72, 99.84),
    "layer3.2.conv3": (86.9, 94.99, 98.42, 98.76, 99.56, 99.75),
    "layer3.3.conv1": (89.46, 96.08, 98.77, 99.01, 99.66, 99.87),
    "layer3.3.conv2": (87.97, 96.1, 98.89, 99.19, 99.73, 99.87),
    "layer3.3.conv3": (86.81, 94.94, 98.43, 98.82, 99.57, 99.81),
    "layer3.4.conv1": (88.4, 95.49, 98.55, 98.79, 99.59, 99.86),
    "layer3.4.conv2": (87.38, 95.66, 98.56, 99.19, 99.69, 99.9),
    "layer3.4.conv3": (85.76, 94.49, 97.99, 98.65, 99.52, 99.86),
    "layer3.5.conv1": (85.77, 95.09, 97.92, 98.71, 99.52, 99.79),
    "layer3.5.conv2": (86.67, 94.92, 98.32, 98.91, 99.58, 99.83),
    "layer3.5.conv3": (82.23, 93.14, 97.3, 98.1, 99.25, 99.71),
    "layer4.0.conv1": (79.61, 90.32, 95.92, 97.17, 98.6, 99.37),
    "layer4.0.conv2": (88, 95.66, 98.55, 99.08, 99.63, 99.85),
    "layer4.0.conv3": (80.48, 91.14, 96.47, 97.53, 99, 99.57),
    "layer4.0.downsample.0": (89.98, 96.79, 99.11, 99.45, 99.82, 99.94),
    "layer4.1.conv1": (84.02, 93.69, 97.76, 98.45, 99.36, 99.76),
    "layer4.1.conv2": (85.23, 93.98, 97.71, 98.36, 99.34, 99.76),
    "layer4.1.conv3": (79.96, 90.48, 95.89, 96.88, 98.85, 99.58),
    "layer4.2.conv1": (77.93, 87.57, 94.16, 95.55, 97.97, 99.08),
    "layer4.2.conv2": (74.97, 84.37, 92.22, 94.02, 97.13, 98.74),
    "layer4.2.conv3": (70.38, 80.29, 89.65, 91.4, 96.72, 98.83),
    "fc": (52.46, 64.5, 75.8, 78.57, 87.26, 92.15),
}
_RESNET_COLUMN = {"R81": 0, "R90": 1, "R95": 2, "R96": 3, "R98": 4, "R99": 5}
# The STR model each column is (overall weight sparsity, %).
STR_RESNET50_OVERALL = {"R81": 81.27, "R90": 90.23, "R95": 95.15, "R96": 96.11, "R98": 98.05,
                        "R99": 98.98}
RESNET_ACTIVATION_RANGE = (0.2, 0.8)


def _resnet50(variant, seed, densities):
    column = _RESNET_COLUMN[variant]
    b = _Builder(variant, "ResNet-50", seed, densities=densities)

    def wd(name):
        return 1 - STR_RESNET50_SPARSITY[name][column] / 100

    def act(name):
        return _uniform_draw(seed, f"ResNet-50/{name}", *RESNET_ACTIVATION_RANGE)

    x = b.conv("conv1", "input", 64, kernel=7, stride=2, weight_density=wd("conv1"),
               density=act("conv1"))
    x = b.pool("maxpool", x, "maxpool", kernel=3, stride=2, padding=1)
    stages = ((3, 64), (4, 128), (6, 256), (3, 512))
    for stage, (blocks, width) in enumerate(stages, start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            stride = 2 if block == 0 and stage > 1 else 1
            skip = x
            if block == 0:  # projection shortcut, no ReLU before the add
                skip = b.conv(f"{prefix}.downsample.0", x, 4 * width, stride=stride,
                              weight_density=wd(f"{prefix}.downsample.0"), density=None,
                              block=prefix)
            y = b.conv(f"{prefix}.conv1", x, width, weight_density=wd(f"{prefix}.conv1"),
                       density=act(f"{prefix}.conv1"), block=prefix)
            y = b.conv(f"{prefix}.conv2", y, width, kernel=3, stride=stride,
                       weight_density=wd(f"{prefix}.conv2"), density=act(f"{prefix}.conv2"),
                       block=prefix)
            x = b.conv(f"{prefix}.conv3", y, 4 * width, weight_density=wd(f"{prefix}.conv3"),
                       residual=skip, density=act(f"{prefix}.conv3"), block=prefix)
    x = b.global_avg_pool("avgpool", x)
    b.fc("fc", x, 1000, weight_density=wd("fc"), density=1.0)
    return b.build()


# --- VGG-16 -------------------------------------------------------------------------------------

# Han, Pool, Tran, Dally, "Learning both Weights and Connections for Efficient Neural Networks"
# (NeurIPS 2015), Table 5: per layer (weight density, output activation density), in %.
HAN_VGG16 = {
    "conv1_1": (58, 53), "conv1_2": (22, 89),
    "conv2_1": (34, 80), "conv2_2": (36, 81),
    "conv3_1": (53, 68), "conv3_2": (24, 70), "conv3_3": (42, 64),
    "conv4_1": (32, 51), "conv4_2": (27, 45), "conv4_3": (34, 34),
    "conv5_1": (35, 32), "conv5_2": (29, 29), "conv5_3": (36, 19),
    "fc6": (4, 38), "fc7": (4, 42), "fc8": (23, 100),
}
_VGG_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
_VGG_CONV_SPARSITY = {"V68": None, "V90": 0.90}  # None: Han's profile as published


def _vgg16_layers():
    """(name, input channels, output channels, input size) of every VGG-16 convolution."""
    layers, channels, size = [], 3, 224
    for stage, (count, width) in enumerate(_VGG_STAGES, start=1):
        for index in range(1, count + 1):
            layers.append((f"conv{stage}_{index}", channels, width, size))
            channels = width
        size //= 2
    return layers


def _vgg16_exponent(target_sparsity):
    """Exponent ``e`` with ``sum(w * d**e) / sum(w) == 1 - target`` over the convolutions."""
    weights = np.array([9 * c * k for _, c, k, _ in _vgg16_layers()], dtype=float)
    densities = np.array([HAN_VGG16[name][0] / 100 for name, *_ in _vgg16_layers()])
    low, high = 1.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        if (weights * densities**mid).sum() / weights.sum() > 1 - target_sparsity:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _vgg16(variant, seed, densities):
    target = _VGG_CONV_SPARSITY[variant]
    exponent = 1.0 if target is None else _vgg16_exponent(target)
    b = _Builder(variant, "VGG-16", seed, densities=densities)

    def wd(name):
        density = HAN_VGG16[name][0] / 100
        return density if name.startswith("fc") else density**exponent

    def act(name):
        return HAN_VGG16[name][1] / 100

    x = "input"
    for stage, (count, _) in enumerate(_VGG_STAGES, start=1):
        for index in range(1, count + 1):
            name = f"conv{stage}_{index}"
            x = b.conv(name, x, _VGG_STAGES[stage - 1][1], kernel=3, weight_density=wd(name),
                       density=act(name))
        x = b.pool(f"pool{stage}", x, "maxpool", kernel=2, stride=2)
    x = b.fc("fc6", x, 4096, weight_density=wd("fc6"), density=act("fc6"))
    x = b.fc("fc7", x, 4096, weight_density=wd("fc7"), density=act("fc7"))
    b.fc("fc8", x, 1000, weight_density=wd("fc8"), density=act("fc8"))
    return b.build()


# --- MobileNetV1 and Inception-3a ----------------------------------------------

RELU_DENSITY = 0.5


def _erk_score(layer):
    """ERK score of a layer's weight tensor: sum of its dimensions over their product."""
    dims = (layer.in_channels // layer.groups, layer.out_channels, layer.kernel,
            layer.kernel_cols)
    return sum(dims) / float(np.prod(dims))


def _fitted_densities(layers, weight_density, mac_density):
    """Per-layer densities ``min(1, a * erk * positions**-gamma)`` meeting a total weight density
    and a total density of the dense MACs (``positions``: output rows times columns, the MACs
    each weight does). ``gamma = 0`` is plain ERK; a positive ``gamma`` prunes the
    high-resolution layers harder, which is how a MAC-aware budget such as STR's differs."""
    weights = np.array([layer.weights for layer in layers], dtype=float)
    macs = np.array([layer.dense_macs for layer in layers], dtype=float)
    scores = np.array([_erk_score(layer) for layer in layers])
    positions = np.array([layer.out_rows * layer.out_cols for layer in layers], dtype=float)

    def profile(gamma):
        shape = scores * positions**-gamma
        low, high = 0.0, 1.0 / shape.min()
        for _ in range(60):
            scale = (low + high) / 2
            if (weights * np.minimum(1, scale * shape)).sum() / weights.sum() < weight_density:
                low = scale
            else:
                high = scale
        return np.minimum(1, (low + high) / 2 * shape)

    low, high = -1.0, 3.0
    if not (macs * profile(high)).sum() <= mac_density * macs.sum() <= (
            macs * profile(low)).sum():
        raise ValueError(f"no profile meets weight density {weight_density} and MAC density "
                         f"{mac_density}")
    for _ in range(50):
        gamma = (low + high) / 2
        if (macs * profile(gamma)).sum() / macs.sum() > mac_density:
            low = gamma
        else:
            high = gamma
    return profile((low + high) / 2)


# STR MobileNetV1 (Kusupati et al., 2020, and the RAIVNLab/STR README): weight sparsity (%),
# sparse MACs and dense MACs (569 M) of the two released models.
STR_MOBILENET = {"M75": (75.28, 101e6), "M89": (89.01, 42e6)}
STR_MOBILENET_DENSE_MACS = 569e6
_MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                     (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _mobilenet_v1_shapes(seed, name="shape", densities=()):
    b = _Builder(name, "MobileNetV1", seed, densities=densities)
    x = b.conv("conv1", "input", 32, kernel=3, stride=2, density=RELU_DENSITY)
    channels = 32
    for index, (width, stride) in enumerate(_MOBILENET_BLOCKS, start=1):
        x = b.conv(f"dw{index}", x, channels, kernel=3, stride=stride, groups=channels,
                   density=RELU_DENSITY, block=f"block{index}")
        x = b.conv(f"pw{index}", x, width, density=RELU_DENSITY, block=f"block{index}")
        channels = width
    x = b.global_avg_pool("avgpool", x)
    b.fc("fc", x, 1000, weight_density=1.0, density=1.0)
    return b.build()


def _with_weight_densities(shape, variant, densities):
    layers, it = [], iter(densities)
    for layer in shape.layers:
        if layer.has_weights:
            layer = replace(layer, weight_density=float(next(it)))
        layers.append(layer)
    tensors = list(shape.tensors)
    # Unfollowed-by-ReLU tensors do not occur here, so tensor densities do not depend on weights.
    return Workload(variant, shape.network, tuple(layers), tuple(tensors), shape.seed)


def _pruned_layers(shape):
    return [layer for layer in shape.layers if layer.has_weights]


def _mobilenet_v1(variant, seed, densities):
    shape = _mobilenet_v1_shapes(seed, variant, densities)
    sparsity, macs = STR_MOBILENET[variant]
    densities = _fitted_densities(_pruned_layers(shape), 1 - sparsity / 100,
                                  macs / STR_MOBILENET_DENSE_MACS)
    return _with_weight_densities(shape, variant, densities)


G58_SPARSITY = 0.58


def _inception_3a(variant, seed, densities):
    b = _Builder(variant, "GoogLeNet Inception-3a", seed, input_shape=(28, 28, 192),
                 densities=densities)
    # The module's input comes after the stem's ReLU.
    b.tensors["input"] = Tensor("input", 28, 28, 192, b.densities.get("input", RELU_DENSITY))
    b.conv("3a_1x1", "input", 64, density=RELU_DENSITY, block="3a")
    y = b.conv("3a_3x3_reduce", "input", 96, density=RELU_DENSITY, block="3a")
    b.conv("3a_3x3", y, 128, kernel=3, density=RELU_DENSITY, block="3a")
    y = b.conv("3a_5x5_reduce", "input", 16, density=RELU_DENSITY, block="3a")
    b.conv("3a_5x5", y, 32, kernel=5, density=RELU_DENSITY, block="3a")
    y = b.pool("3a_pool", "input", "maxpool", kernel=3, stride=1, padding=1)
    b.conv("3a_pool_proj", y, 32, density=RELU_DENSITY, block="3a")
    shape = b.build()
    pruned = _pruned_layers(shape)
    return _with_weight_densities(shape, variant, [1 - G58_SPARSITY] * len(pruned))


_BUILDERS = {"ResNet-50": _resnet50, "MobileNetV1": _mobilenet_v1, "VGG-16": _vgg16,
             "GoogLeNet Inception-3a": _inception_3a}


def parse_variants(text):
    """``"all"`` or a comma-separated list of variant names -> tuple of names (order kept)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"networks must be 'all' or a comma-separated list of "
                         f"{', '.join(VARIANTS)}; got {text!r}")
    if text.strip().lower() == "all":
        return VARIANTS
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in NETWORK_OF]
    if unknown or not names:
        raise ValueError(f"unknown network(s) {', '.join(unknown) or repr(text)}; "
                         f"valid names are all, {', '.join(VARIANTS)}")
    return tuple(dict.fromkeys(names))


def workload(name, *, seed=0, densities=None):
    """The variant ``name`` (one of :data:`VARIANTS`) with its seeded draws.

    ``densities`` maps tensor names (a layer's name is its output's; ``"input"`` the network
    input) to activation densities measured by the user; they replace the synthetic ones, and
    the tensors derived from them (pools, accumulations without a ReLU) follow.
    """
    if name not in NETWORK_OF:
        raise ValueError(f"name must be one of {', '.join(VARIANTS)}, not {name!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    densities = {} if densities is None else densities
    if not isinstance(densities, dict):
        raise ValueError(f"densities must map tensor names to densities, not {densities!r}")
    for tensor, value in densities.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"densities for {name}: {tensor} must be a number in (0, 1], "
                             f"not {value!r}")
    return _build(name, seed, tuple(sorted((t, float(v)) for t, v in densities.items())))


@lru_cache(maxsize=64)
def _build(name, seed, densities):  # workloads are immutable: one build per argument set
    return _BUILDERS[NETWORK_OF[name]](name, seed, densities)


def workloads(names=VARIANTS, *, seed=0):
    return tuple(workload(name, seed=seed) for name in names)


def layer_workload(*, rows, cols, channels, kernels, kernel=3, stride=1, padding=None, groups=1,
                   weight_density, input_density, output_density=None, seed=0, name="layer"):
    """A one-convolution workload at stated densities, such as the RTL's layer benchmark.

    ``output_density`` defaults to the accumulations' density (no ReLU).
    """
    for label, value in (("rows", rows), ("cols", cols), ("channels", channels),
                         ("kernels", kernels), ("kernel", kernel), ("stride", stride),
                         ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive integer, not {value!r}")
    for label, value in (("weight_density", weight_density), ("input_density", input_density),
                         ("output_density", 1.0 if output_density is None else output_density)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
            raise ValueError(f"{label} must be in (0, 1], not {value!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    b = _Builder(name, name, seed, input_shape=(rows, cols, channels))
    b.tensors["input"] = Tensor("input", rows, cols, channels, float(input_density))
    b.conv(name, "input", kernels, kernel=kernel, stride=stride, padding=padding, groups=groups,
           weight_density=float(weight_density), density=output_density)
    return b.build()
