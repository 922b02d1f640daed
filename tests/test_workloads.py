"""The layer tables and densities of the paper's 11 sparse CNNs match the published figures."""

import numpy as np
import pytest

from isosceles.perf.workloads import (
    HAN_VGG16,
    RESNET_ACTIVATION_RANGE,
    STR_MOBILENET,
    STR_RESNET50_OVERALL,
    STR_RESNET50_SPARSITY,
    VARIANTS,
    layer_workload,
    parse_variants,
    workload,
)


def test_dense_macs_match_the_published_counts():
    # STR's budget file: 4,089,284,608 MACs for ResNet-50 (convolutions, FC and average pool).
    assert workload("R96").dense_macs == 4_089_284_608
    # VGG-16: 15.35 G in the convolutions plus 123.6 M in the FC layers.
    assert workload("V68").dense_macs == 15_470_264_320
    # MobileNetV1: 569 M (STR's README).
    assert workload("M75").dense_macs == pytest.approx(569e6, rel=0.002)
    # Inception-3a: 28 x 28 positions x 163,328 MACs per position.
    assert workload("G58").dense_macs == 28 * 28 * 163_328


def test_layer_shapes():
    resnet = workload("R81")
    convs = [layer for layer in resnet.layers if layer.kind == "conv"]
    assert len(convs) == 53 and len(STR_RESNET50_SPARSITY) == 54
    last = resnet.tensor("layer4.2.conv3")
    assert (last.rows, last.cols, last.channels) == (7, 7, 2048)
    assert resnet.weight_count == 25_502_912  # STR's parameter count
    vgg = workload("V68")
    assert vgg.tensor("pool5").elements == 7 * 7 * 512
    assert next(layer for layer in vgg.layers if layer.name == "fc6").in_channels == 25088
    mobilenet = workload("M89")
    last = mobilenet.tensor("pw13")
    assert (last.rows, last.cols, last.channels) == (7, 7, 1024)
    assert mobilenet.weight_count == pytest.approx(4.21e6, rel=0.002)
    inception = workload("G58")
    assert sum(inception.tensor(t).channels for t in inception.outputs) == 256


@pytest.mark.parametrize("name", ["R81", "R90", "R95", "R96", "R98", "R99"])
def test_str_budgets_reproduce_the_overall_sparsity(name):
    w = workload(name)
    sparsity = 1 - w.weight_nonzeros / w.weight_count
    assert sparsity * 100 == pytest.approx(STR_RESNET50_OVERALL[name], abs=0.01)


@pytest.mark.parametrize("name, sparse_macs", [("R81", 705e6), ("R90", 343e6), ("R95", 162e6),
                                               ("R98", 73e6), ("R99", 47e6)])
def test_str_budgets_reproduce_the_sparse_macs(name, sparse_macs):
    w = workload(name)
    macs = sum(layer.dense_macs * layer.weight_density for layer in w.layers if layer.has_weights)
    assert macs == pytest.approx(sparse_macs, rel=0.01)


@pytest.mark.parametrize("name", ["M75", "M89"])
def test_mobilenet_profile_meets_both_str_totals(name):
    w = workload(name)
    sparsity, sparse_macs = STR_MOBILENET[name]
    assert (1 - w.weight_nonzeros / w.weight_count) * 100 == pytest.approx(sparsity, abs=0.01)
    macs = sum(layer.dense_macs * layer.weight_density for layer in w.layers if layer.has_weights)
    assert macs == pytest.approx(sparse_macs, rel=0.005)
    assert all(0 < layer.weight_density <= 1 for layer in w.layers)


def test_vgg_variants():
    v68, v90 = workload("V68"), workload("V90")
    # Han et al.'s convolutions are 67.3 % sparse: the paper's "68 %".
    assert v68.conv_weight_sparsity() == pytest.approx(0.673, abs=0.001)
    assert v90.conv_weight_sparsity() == pytest.approx(0.90, abs=1e-6)
    for layer in v68.layers:
        if layer.name in HAN_VGG16:
            assert layer.weight_density == HAN_VGG16[layer.name][0] / 100
            assert v68.tensor(layer.name).density == HAN_VGG16[layer.name][1] / 100
    by_name = {layer.name: layer for layer in v90.layers}
    assert by_name["fc6"].weight_density == HAN_VGG16["fc6"][0] / 100
    # The profile's ranking is kept.
    convs = [name for name in HAN_VGG16 if name.startswith("conv")]
    assert np.argsort([HAN_VGG16[n][0] for n in convs]).tolist() == np.argsort(
        [by_name[n].weight_density for n in convs]).tolist()


def test_inception_is_uniform_at_58_percent():
    w = workload("G58")
    assert 1 - w.weight_nonzeros / w.weight_count == pytest.approx(0.58)


def test_activation_densities():
    low, high = RESNET_ACTIVATION_RANGE
    r81, r99 = workload("R81"), workload("R99")
    assert r81.tensor("input").density == 1.0
    relu = [t for t in r81.tensors if "downsample" not in t.name
            and t.name not in ("input", "fc", "maxpool", "avgpool")]
    assert all(low <= t.density <= high for t in relu)
    assert len({round(t.density, 6) for t in relu}) == len(relu)  # a draw, not a constant
    # The draw belongs to the network: every ResNet-50 variant sees the same activations.
    assert [t.density for t in relu] == [r99.tensor(t.name).density for t in relu]
    for name in ("M75", "G58"):
        w = workload(name)
        pools = {layer.name for layer in w.layers if layer.kind in ("maxpool", "gap")}
        assert {t.density for t in w.tensors
                if t.name not in {"input", "fc"} | pools} == {0.5}


@pytest.mark.parametrize("name, pool, window", [("R96", "maxpool", 9), ("R96", "avgpool", 49),
                                                ("G58", "3a_pool", 9), ("V90", "pool4", 4)])
def test_a_pool_is_nonzero_when_any_input_of_its_window_is(name, pool, window):
    w = workload(name)
    (layer,) = [layer for layer in w.layers if layer.name == pool]
    d_in = w.tensor(layer.input).density
    assert w.tensor(pool).density == pytest.approx(1 - (1 - d_in) ** window)
    assert w.tensor(pool).density > d_in


def test_draws_are_seeded():
    a, b, c = workload("R96", seed=3), workload("R96", seed=3), workload("R96", seed=4)
    assert a == b and a != c
    assert np.array_equal(a.row_nonzeros("layer2.1.conv2"), b.row_nonzeros("layer2.1.conv2"))
    assert not np.array_equal(a.row_nonzeros("layer2.1.conv2"),
                              c.row_nonzeros("layer2.1.conv2"))


def test_row_draws_have_the_stated_density():
    w = workload("R96")
    for tensor in ("maxpool", "layer1.0.conv2", "layer3.2.conv3"):
        t = w.tensor(tensor)
        draw = w.row_nonzeros(tensor)
        assert len(draw) == t.rows
        sigma = np.sqrt(t.elements * t.density * (1 - t.density))
        assert abs(draw.sum() - t.nonzeros) < 5 * sigma


def test_first_convolution_follows_the_pruning_schedule():
    # STR prunes the first convolution, so it is not kept dense; its input (the image) is.
    for name, column in zip(("R81", "R99"), (0, 5), strict=True):
        conv1 = workload(name).layers[0]
        assert conv1.weight_density == pytest.approx(1 - STR_RESNET50_SPARSITY["conv1"][column]
                                                     / 100)


def test_scaled_densities_are_capped():
    w = workload("M75").scaled(weight_scale=10, activation_scale=10)
    assert all(layer.weight_density == 1.0 for layer in w.layers if layer.has_weights)
    assert all(t.density == 1.0 for t in w.tensors)
    with pytest.raises(ValueError, match="weight_scale must be positive"):
        w.scaled(weight_scale=0)


def test_parse_variants():
    assert parse_variants("all") == VARIANTS
    assert parse_variants(" r96, M75,R96 ") == ("R96", "M75")
    for bad in ("R97", "R96,X", "", ",", None):
        with pytest.raises(ValueError, match="valid names are all, R81|must be 'all'"):
            parse_variants(bad)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name must be one of R81"):
        workload("R100")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        workload("R96", seed=-1)
    with pytest.raises(ValueError, match="weight_density must be in"):
        layer_workload(rows=8, cols=8, channels=8, kernels=8, weight_density=0,
                       input_density=0.5)
    with pytest.raises(ValueError, match="rows must be a positive integer"):
        layer_workload(rows=0, cols=8, channels=8, kernels=8, weight_density=0.5,
                       input_density=0.5)


def test_user_densities_replace_the_synthetic_ones_and_derived_tensors_follow():
    base = workload("R96")
    given = {"conv1": 0.05, "layer1.0.conv2": 0.9}
    w = workload("R96", densities=given)
    assert w.tensor("conv1").density == 0.05 and w.tensor("layer1.0.conv2").density == 0.9
    assert w.tensor("maxpool").density == pytest.approx(1 - 0.95 ** 9)  # the pool follows
    # The projection shortcut has no ReLU: its density follows its (pooled) input.
    assert w.tensor("layer1.0.downsample.0").density < base.tensor(
        "layer1.0.downsample.0").density
    untouched = [t.name for t in base.tensors if t.name not in
                 ("conv1", "maxpool", "layer1.0.conv2", "layer1.0.downsample.0")]
    assert all(w.tensor(n).density == base.tensor(n).density for n in untouched)
    assert workload("G58", densities={"input": 0.3}).tensor("input").density == 0.3


def test_user_densities_are_checked():
    with pytest.raises(ValueError, match="densities for R96: no tensor named conv9; "
                                         "the tensors are input, conv1"):
        workload("R96", densities={"conv9": 0.5})
    with pytest.raises(ValueError, match=r"densities for M75: pw3 must be a number in \(0, 1\], "
                                         "not 1.5"):
        workload("M75", densities={"pw3": 1.5})
