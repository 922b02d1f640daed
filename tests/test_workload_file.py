"""Workload files: validation messages, tensors from seeds and .npz files, every shipped file."""

import re
from pathlib import Path

import numpy as np
import pytest

from isosceles.golden import conv2d, dense_conv2d, isos_streams
from isosceles.golden.layers import avg_pool, fully_connected, max_pool, residual_add
from isosceles.golden.memory_image import (
    LayerImage,
    MemoryImage,
    activation_word_count,
    compulsory_bytes,
)
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.workload_file import WorkloadError, auto_requant, load_workload

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"
SHIPPED = sorted(WORKLOADS.glob("*.toml"))

CONV = """
[[layer]]
name = "a"
type = "conv"
input = [5, 6, 4]
kernel = [3, 3]
out_channels = 6
padding = 1
weight_density = 0.5
activation_density = 0.5
seed = 3
"""


def load(tmp_path, text, name="w.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_workload(path)


def edit(text, **changes):
    """``text`` with keys of its first layer replaced (value None: removed), in TOML syntax."""
    lines = text.strip().splitlines()
    for key, value in changes.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        if value is not None:
            lines.insert(1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


# --- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    (dict(kernal="[3, 3]"), "layer 'a': unknown key 'kernal'; did you mean 'kernel'?"),
    (dict(activation_densty="0.5"),
     "layer 'a': unknown key 'activation_densty'; did you mean 'activation_density'?"),
    (dict(zzz="1"), "layer 'a': unknown key 'zzz'; known keys: name, type, input"),
    (dict(kernel=None), "layer 'a': missing key 'kernel' (a conv layer needs name, type, input, "
                        "kernel, out_channels)"),
    (dict(name=None), "layer #1: missing key 'name'"),
    (dict(type=None), "layer 'a': missing key 'type' (one of conv, depthwise, fc, maxpool, "
                      "avgpool, add)"),
    (dict(weight_density=None), "layer 'a': missing key 'weight_density' (or 'tensors')"),
    (dict(activation_density=None), "layer 'a': missing key 'activation_density' (or 'tensors')"),
    (dict(type='"cnv"'), "layer 'a': type: 'cnv' is not one of conv, depthwise, fc, maxpool, "
                         "avgpool, add; did you mean 'conv'?"),
    (dict(stride="4"), "layer 'a': stride: 4 is out of range 1..3"),
    (dict(stride='"2"'), "layer 'a': stride: must be an integer, not '2' (str)"),
    (dict(stride="true"), "layer 'a': stride: must be an integer, not True (bool)"),
    (dict(weight_density="1.5"), "layer 'a': weight_density: 1.5 is out of range 0..1"),
    (dict(activation_density='"half"'),
     "layer 'a': activation_density: must be a number, not 'half' (str)"),
    (dict(relu="1"), "layer 'a': relu: must be a boolean, not 1 (int)"),
    (dict(seed="-1"), "layer 'a': seed: -1 is out of range 0..9223372036854775807"),
    (dict(kernel="[3]"), "layer 'a': kernel: must be [R, S], not [3]"),
    (dict(kernel="[3, 8]"), "layer 'a': kernel: 8 in [3, 8] is out of range 1..7"),
    (dict(kernel="[3, 2.5]"), "layer 'a': kernel: must be an integer, not 2.5 (float)"),
    (dict(input="[5, 6]"), "layer 'a': input: must be [H, W, C] (three integers) or the name "
                           "of an earlier layer, not [5, 6]"),
    (dict(input="[5, 0, 4]"), "layer 'a': input: 0 in [5, 0, 4] is out of range 1..65536"),
    (dict(input="[5, 6, 5000]"), "layer 'a': input: C = 5000 is out of range 1..4096"),
    (dict(input="5"), "layer 'a': input: must be [H, W, C] or the name of an earlier layer, "
                      "not 5"),
    (dict(input='"b"'), "layer 'a': input: 'b' names no earlier layer (earlier: none)"),
    (dict(out_channels="0"), "layer 'a': out_channels: 0 is out of range 1..4096"),
    (dict(padding="3"), "layer 'a': padding: [3, 3] must be at most [R - 1, S - 1] = [2, 2]"),
    (dict(padding="[1, 2, 3]"), "layer 'a': padding: must be an integer or [ph, pw], not "
                                "[1, 2, 3]"),
    (dict(padding="0", input="[1, 6, 4]"),
     "layer 'a': kernel: [3, 3] is larger than the padded input [1, 6]"),
    (dict(groups="3"), "layer 'a': groups: 3 must divide C = 4 and K = out_channels = 6"),
    (dict(requant='"max"'), "layer 'a': requant: must be 'auto' or 'tensors' (or give bias, mult "
                            "and shift), not 'max'"),
    (dict(requant='"tensors"'), "layer 'a': requant: 'tensors' takes bias, mult and shift from "
                                "the 'tensors' file; give tensors = \"FILE.npz\""),
    (dict(requant='"auto"', bias="[0, 0, 0, 0, 0, 0]"),
     "layer 'a': bias: does not apply with requant = 'auto'"),
    (dict(bias="[0, 0, 0, 0, 0, 0]", mult="[1, 1, 1, 1, 1, 1]"),
     "layer 'a': missing key 'shift' (explicit POU parameters need bias, mult and shift)"),
    (dict(bias="[0, 0, 0, 0, 0]", mult="[1, 1, 1, 1, 1, 1]", shift="[0, 0, 0, 0, 0, 0]"),
     "layer 'a': bias: has 5 values, the layer has K = 6 output channels"),
    (dict(bias="[0, 0, 0, 0, 0, 0]", mult="[1, 1, 1, 1, 1, 65536]", shift="[0, 0, 0, 0, 0, 0]"),
     "layer 'a': mult: 65536 in [1, 1, 1, 1, 1, 65536] is out of range 0..65535"),
    (dict(bias="[0, 0, 0, 0, 0, 0]", mult="[1, 1, 1, 1, 1, 1]", shift="[0, 0, 0, 0, 0, 32]"),
     "layer 'a': shift: 32 in [0, 0, 0, 0, 0, 32] is out of range 0..31"),
    (dict(tensors='"missing.npz"'),
     "layer 'a': weight_density: does not apply when 'tensors' gives the layer's tensors"),
    (dict(tensors='"missing.npz"', weight_density=None, activation_density=None),
     "layer 'a': tensors: cannot read"),
])
def test_errors_name_the_file_the_layer_and_the_key(tmp_path, changes, message):
    with pytest.raises(WorkloadError) as error:
        load(tmp_path, edit(CONV, **changes))
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{tmp_path / 'w.toml'}: ") and message in text, text


@pytest.mark.parametrize("layer, message", [
    ('name = "d"\ntype = "depthwise"\ninput = [4, 4, 4]\nkernel = [3, 3]\ngroups = 4\n'
     'weight_density = 1\nactivation_density = 1',
     "layer 'd': groups: does not apply to a depthwise layer"),
    ('name = "d"\ntype = "depthwise"\ninput = [4, 4, 4]\nkernel = [3, 3]\nout_channels = 6\n'
     'weight_density = 1\nactivation_density = 1',
     "layer 'd': out_channels: 6 must be a multiple of the input channels C = 4"),
    ('name = "f"\ntype = "fc"\ninput = [1, 1, 8]\nout_channels = 4\nkernel = [1, 1]\n'
     'weight_density = 1\nactivation_density = 1',
     "layer 'f': kernel: does not apply to a fc layer"),
    ('name = "f"\ntype = "fc"\ninput = [16, 16, 32]\nout_channels = 4\n'
     'weight_density = 1\nactivation_density = 1',
     "layer 'f': input: an fc layer's H*W*C = 8192 is out of range 1..4096"),
    ('name = "a"\ntype = "conv"\ninput = "a"\nkernel = [1, 1]\nout_channels = 2\n'
     'weight_density = 1',
     "layer 'a': name: 'a' is empty or names an earlier layer; names must be unique"),
    ('name = "b"\ntype = "conv"\ninput = "a"\nkernel = [1, 1]\nout_channels = 2\n'
     'weight_density = 1\nactivation_density = 1',
     "layer 'b': activation_density: does not apply: the layer reads 'a''s output"),
    ('name = "b"\ntype = "conv"\ninput = "x"\nkernel = [1, 1]\nout_channels = 2\n'
     'weight_density = 1',
     "layer 'b': input: 'x' names no earlier layer (earlier: a)"),
])
def test_errors_of_other_layer_types_and_of_networks(tmp_path, layer, message):
    with pytest.raises(WorkloadError, match=re.escape(message)):
        load(tmp_path, CONV + "\n[[layer]]\n" + layer + "\n")


@pytest.mark.parametrize("text, message", [
    ("[[layers]]\nname = 'a'\n", "unknown top-level key 'layers'; did you mean 'layer'?"),
    ("description = 'x'\n", "a workload file needs at least one [[layer]] table"),
    ("description = 3\n" + CONV, "description must be a string, not 3"),
    ("[[layer]\n", "not valid TOML: "),
])
def test_errors_of_the_whole_file(tmp_path, text, message):
    with pytest.raises(WorkloadError, match=re.escape(message)):
        load(tmp_path, text)


def test_a_missing_file(tmp_path):
    with pytest.raises(WorkloadError, match="nope.toml: cannot read the workload file: No such"):
        load_workload(tmp_path / "nope.toml")


def test_npz_errors(tmp_path):
    text = edit(CONV, tensors='"t.npz"', weight_density=None, activation_density=None)
    np.savez(tmp_path / "t.npz", input=np.zeros((5, 6, 4), np.int8))
    with pytest.raises(WorkloadError, match=r"tensors: t.npz has no array 'weights' \(it has "
                                            r"\['input'\]\)"):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=np.zeros((5, 6, 4), np.int8),
             weights=np.zeros((4, 3, 5, 3), np.int8))
    with pytest.raises(WorkloadError, match=re.escape(
            "layer 'a': tensors: weights has shape [4, 3, 5, 3], the layer needs [4, 3, 6, 3]")):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=np.full((5, 6, 4), 200), weights=np.ones((4, 3, 6, 3)))
    with pytest.raises(WorkloadError, match="tensors: t.npz: weights must be an integer array, "
                                            "not float64"):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=np.full((5, 6, 4), 200),
             weights=np.ones((4, 3, 6, 3), np.int8))
    with pytest.raises(WorkloadError, match=re.escape(
            "tensors: input values 200..200 do not fit 8-bit signed integers (-128..127)")):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=np.ones((5, 6, 4), np.int8),
             weights=np.ones((4, 3, 6, 3), np.int8), bias=np.ones(6, np.int8))
    with pytest.raises(WorkloadError, match=re.escape(
            "tensors: t.npz has arrays ['bias'] this layer does not use (it needs "
            "['input', 'weights'])")):
        load(tmp_path, text)


# --- Tensors -----------------------------------------------------------------------------------

def test_npz_tensors_round_trip_and_golden_outputs(tmp_path):
    seed = 21
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    i = rng.integers(-128, 128, (5, 6, 4)) * (rng.random((5, 6, 4)) < 0.5)
    f = rng.integers(-128, 128, (2, 3, 6, 2)) * (rng.random((2, 3, 6, 2)) < 0.5)
    i[:, :, 0], f[0] = 127, 127  # saturates group 0's partial sums
    np.savez(tmp_path / "t.npz", input=i.astype(np.int8), weights=f.astype(np.int16))
    text = edit(CONV, tensors='"t.npz"', weight_density=None, activation_density=None,
                kernel="[3, 2]", groups="2", padding="[1, 0]", stride="2", relu="false",
                bias="[1, -2, 3, 0, 5, -600]", mult="[1, 2, 3, 4, 5, 6]",
                shift="[0, 1, 2, 3, 4, 5]")
    layer = load(tmp_path, text).layer("a")
    assert np.array_equal(layer.input, i) and np.array_equal(layer.weights, f)
    assert (layer.stride, layer.padding, layer.groups, layer.pou.relu) == (2, (1, 0), 2, False)
    assert layer.pou.bias == (1, -2, 3, 0, 5, -600) and layer.pou.shift == (0, 1, 2, 3, 4, 5)
    # Partial sums saturate, so the golden model's own order decides, not the exact sum.
    acc = conv2d(i, f, stride=2, padding=(1, 0), groups=2)
    assert not np.array_equal(acc, dense_conv2d(i, f, stride=2, padding=(1, 0), groups=2))
    assert np.array_equal(layer.accumulations, acc)
    assert np.array_equal(layer.output, pou_dense(acc, layer.pou))


def test_seeded_draws_are_deterministic_and_as_documented(tmp_path):
    a, b = load(tmp_path, CONV, "a.toml").layer("a"), load(tmp_path, CONV, "b.toml").layer("a")
    c = load(tmp_path, edit(CONV, seed="4")).layer("a")
    for name in ("input", "weights", "accumulations", "output"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.pou == b.pou
    assert not np.array_equal(a.input, c.input) and not np.array_equal(a.weights, c.weights)
    assert 1 <= np.abs(a.input[a.input != 0]).min() and np.abs(a.input).max() <= 15
    assert np.abs(a.weights).max() <= 32 and (a.input < 0).any() and (a.weights < 0).any()
    dense = load(tmp_path, edit(CONV, activation_density="1", weight_density="1")).layer("a")
    assert np.count_nonzero(dense.input) == dense.input.size
    assert np.count_nonzero(dense.weights) == dense.weights.size
    empty = load(tmp_path, edit(CONV, activation_density="0")).layer("a")
    assert not empty.input.any() and not empty.accumulations.any()


def test_auto_requant_maps_each_channels_peak_to_the_largest_activation():
    acc = np.zeros((2, 2, 4), dtype=np.int64)
    acc[0, 0, 0], acc[1, 1, 1], acc[0, 1, 2] = 1000, -32767, 1
    pou = auto_requant(acc, relu=False)
    assert pou.bias == (0, 0, 0, 0) and (pou.mult[3], pou.shift[3]) == (1, 0)
    peaks = pou_dense(acc, pou)
    assert peaks[0, 0, 0] == 127 and peaks[1, 1, 1] == -127 and peaks[0, 1, 2] == 127
    # The closest mapping: a peak of 1000 lands on 127 exactly before rounding, within 1/2.
    assert abs(1000 * pou.mult[0] / 2 ** pou.shift[0] - 127) < 0.01
    narrow = auto_requant(acc, relu=True, numerics=Numerics(mult_bits=4, shift_bits=3))
    assert max(narrow.mult) <= 15 and max(narrow.shift) <= 7


# --- Pooling, add, POU parameters from the tensors file ---------------------------------------

POOL_ADD = CONV + """
[[layer]]
name = "b"
type = "conv"
input = "a"
kernel = [1, 1]
out_channels = 6
weight_density = 0.7
relu = false
seed = 4

[[layer]]
name = "sum"
type = "add"
input = ["a", "b"]

[[layer]]
name = "max"
type = "maxpool"
input = "sum"
kernel = [2, 2]

[[layer]]
name = "avg"
type = "avgpool"
input = "sum"
kernel = [3, 3]
stride = 1
padding = 1
"""


def test_pooling_and_add_layers_are_the_golden_layers(tmp_path):
    w = load(tmp_path, POOL_ADD)
    a, b, total, peak, mean = w.layers
    assert np.array_equal(total.output, residual_add(a.output, b.output))
    assert (total.source, total.skip, total.weights, total.pou) == ("a", "b", None, None)
    assert np.array_equal(peak.output, max_pool(total.output, size=2, stride=2))
    assert peak.output.shape == (2, 3, 6)
    assert np.array_equal(mean.output, avg_pool(total.output, size=3, stride=1, padding=1))
    x = a.input
    run = w.network().run(x)
    for layer in w.layers:
        assert np.array_equal(run[layer.name], layer.output), layer.name
    with pytest.raises(ValueError, match=re.escape(
            "layer 'sum' (add) is not run as a convolution; the block's core runs conv, "
            "depthwise, fc, avgpool, maxpool layers")):
        total.conv_arguments()


@pytest.mark.parametrize("layer, message", [
    ('name = "s"\ntype = "add"\ninput = "a"',
     "layer 's': input: an add layer reads two earlier layers, [\"a\", \"b\"], not 'a'"),
    ('name = "s"\ntype = "add"\ninput = ["a", "z"]',
     "layer 's': input: 'z' names no earlier layer (earlier: a)"),
    ('name = "p"\ntype = "maxpool"\ninput = "a"\nkernel = [2, 2]\n'
     'name2 = 1', "layer 'p': unknown key 'name2'"),
    ('name = "p"\ntype = "maxpool"\ninput = "a"\nkernel = [2, 2]\nweight_density = 1',
     "layer 'p': weight_density: does not apply to a maxpool layer"),
    ('name = "p"\ntype = "maxpool"\ninput = "a"\nkernel = [2, 3]',
     "layer 'p': kernel: [2, 3]: a pooling window must be square"),
    ('name = "p"\ntype = "avgpool"\ninput = "a"\nkernel = [3, 3]\npadding = [1, 0]',
     "layer 'p': padding: [1, 0]: a pooling layer pads rows and columns alike"),
    ('name = "p"\ntype = "avgpool"\ninput = "a"', "layer 'p': missing key 'kernel'"),
    ('name = "p"\ntype = "maxpool"\ninput = [4, 4, 2]\nkernel = [2, 2]',
     "layer 'p': input: a maxpool layer reads an earlier layer's output: give its name, not "
     "[4, 4, 2]"),
])
def test_errors_of_pooling_and_add_layers(tmp_path, layer, message):
    with pytest.raises(WorkloadError, match=re.escape(message)):
        load(tmp_path, CONV + "\n[[layer]]\n" + layer + "\n")


def test_an_add_of_two_shapes_is_refused(tmp_path):
    text = CONV + '\n[[layer]]\nname = "max"\ntype = "maxpool"\ninput = "a"\nkernel = [2, 2]\n' \
        '\n[[layer]]\nname = "bad"\ntype = "add"\ninput = ["a", "max"]\n'
    with pytest.raises(WorkloadError, match=re.escape(
            "layer 'bad': input: 'a' gives [5, 6, 6] and 'max' gives [2, 3, 6]; an add needs "
            "equal shapes")):
        load(tmp_path, text)


def test_pou_parameters_from_the_tensors_file(tmp_path):
    rng = np.random.default_rng(5)
    i, f = rng.integers(-3, 4, (5, 6, 4)), rng.integers(-3, 4, (4, 3, 6, 3))
    bias, mult, shift = np.arange(-3, 3), np.arange(1, 7), np.arange(6)
    text = edit(CONV, tensors='"t.npz"', requant='"tensors"', weight_density=None,
                activation_density=None, relu="false")
    np.savez(tmp_path / "t.npz", input=i, weights=f, bias=bias, mult=mult, shift=shift)
    layer = load(tmp_path, text).layer("a")
    assert layer.pou == PouParams.make(bias, mult, shift, relu=False)
    assert np.array_equal(layer.output, pou_dense(dense_conv2d(i, f, padding=1), layer.pou))
    np.savez(tmp_path / "t.npz", input=i, weights=f, bias=bias, mult=mult)
    with pytest.raises(WorkloadError, match=re.escape("tensors: t.npz has no array 'shift'")):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=i, weights=f, bias=bias, mult=-mult, shift=shift)
    with pytest.raises(WorkloadError, match=re.escape("tensors: t.npz: mult values must be in "
                                                      "0..65535")):
        load(tmp_path, text)
    np.savez(tmp_path / "t.npz", input=i, weights=f, bias=bias[:5], mult=mult[:5],
             shift=shift[:5])
    with pytest.raises(WorkloadError, match=re.escape("tensors: t.npz: bias, mult and shift have "
                                                      "5 values, the layer has K = 6")):
        load(tmp_path, text)


# --- Shipped files -----------------------------------------------------------------------------

def test_the_shipped_workloads_cover_the_brief():
    names = {path.stem for path in SHIPPED}
    assert names >= {"resnet_3x3", "conv_1x1", "depthwise_3x3", "stride2_padded",
                     "rectangular_kernels", "one_pixel_image", "all_zero_input", "fc",
                     "two_layers", "avg_pool", "residual_add", "maxpool"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_workload_loads_lays_out_and_reads_back(path):
    workload = load_workload(path)
    assert workload.description
    image, areas = MemoryImage(), {}
    for layer in workload.layers:
        # Small enough for the block's default configuration and a fast simulation.
        H, W, C = layer.input.shape
        P, Q, K = layer.output.shape
        assert max(H, W, Q) <= 16 and max(C, K) <= 32
        if layer.type == "add":
            assert np.array_equal(layer.output, residual_add(layer.input, layer.addend))
            placed = layer.layout(image, input_area=areas.get(layer.source),
                                  input2_area=areas.get(layer.skip))
            placed.write_output(image, layer.output)
            assert np.array_equal(placed.read_output(image), layer.output)
            assert placed.compulsory_bytes(image) == (
                sum(8 * H + 4 * activation_word_count(x) for x in (layer.input, layer.addend)),
                8 * P + 4 * activation_word_count(layer.output))
            areas[layer.name] = placed.output
            continue
        i, weights, stride, padding, groups = layer.conv_arguments()
        assert max(weights.shape[1], weights.shape[3]) <= 3
        # The golden output is the golden model's, not a shortcut's.
        if layer.type == "fc":
            acc = fully_connected(layer.input.reshape(-1), layer.weights)[None, None, :]
        else:
            acc = conv2d(i, weights, stride=stride, padding=padding, groups=groups)
        # A pool's form on the block gives the golden pool's output exactly.
        if layer.type == "avgpool":
            assert np.array_equal(layer.output, avg_pool(layer.input, size=layer.kernel[0],
                                                         stride=layer.stride,
                                                         padding=layer.padding[0]))
        elif layer.type == "maxpool":
            acc = isos_streams(i, weights, stride=stride, padding=padding, groups=groups,
                               maximum=True).accumulations
            assert np.array_equal(layer.output, max_pool(layer.input, size=layer.kernel[0],
                                                         stride=layer.stride,
                                                         padding=layer.padding[0]))
        else:
            assert np.array_equal(layer.accumulations, acc)
        assert np.array_equal(layer.output, pou_dense(acc, layer.block_pou()))
        placed = layer.layout(image, input_area=areas.get(layer.source))
        assert isinstance(placed, LayerImage)
        placed.write_output(image, layer.output)
        assert np.array_equal(placed.read_output(image), layer.output)
        assert placed.compulsory_bytes(image) == compulsory_bytes(
            layer.input, weights, layer.output, groups=groups)
        areas[layer.name] = placed.output


def test_all_zero_input_leaves_only_the_pou_fill_channels():
    layer = load_workload(WORKLOADS / "all_zero_input.toml").layer("zeros")
    assert not layer.input.any()
    assert set(np.flatnonzero(layer.output.any(axis=(0, 1)))) == {1, 3, 5}


def test_an_fc_layer_reads_a_conv_output(tmp_path):
    text = CONV + """
[[layer]]
name = "head"
type = "fc"
input = "a"
out_channels = 3
weight_density = 0.5
seed = 1
"""
    workload = load(tmp_path, text)
    conv, head = workload.layers
    assert head.source == "a" and np.array_equal(head.input, conv.output)
    assert head.weights.shape == (5 * 6 * 6, 3) and head.output.shape == (1, 1, 3)
    assert np.array_equal(head.accumulations[0, 0],
                          fully_connected(conv.output.reshape(-1), head.weights))
    image = MemoryImage()
    first = conv.layout(image)
    second = head.layout(image, input_area=first.output)
    first.write_output(image, conv.output)
    second.write_output(image, head.output)
    assert np.array_equal(second.read_output(image), head.output)
    assert second.descriptor()["filter_channels"] == 180
    with pytest.raises(KeyError, match="has no layer 'b'; its layers are a, head"):
        workload.layer("b")


def test_the_specs_limits_are_the_memory_formats():
    from isosceles.golden import memory_image, workload_spec
    assert (workload_spec.MAX_COLUMNS, workload_spec.MAX_CHANNELS) == (
        memory_image.MAX_COLUMNS, memory_image.MAX_CHANNELS)
