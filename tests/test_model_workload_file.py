"""The performance model reads the IS-OS block's TOML workload files."""

import json
from pathlib import Path

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.gen.model import load_network
from isosceles.golden.workload_file import load_workload as load_golden_workload
from isosceles.golden.workload_spec import WorkloadError, read_workload_spec
from isosceles.perf.isosceles_model import IsoscelesModel
from isosceles.perf.workload_file import EXPECTED_SOURCE, RELU_KEEPS, load_workload
from isosceles.perf.workloads import accumulation_density, pooled_density

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "workloads").glob("*.toml"))
DIGITS = ROOT / "golden" / "data" / "digits" / "digits_cnn.toml"

TWO_LAYERS = """
description = "a 3x3 convolution whose output a 1x1 convolution reads"

[[layer]]
name = "conv_a"
type = "conv"
input = [8, 8, 8]
kernel = [3, 3]
out_channels = 16
padding = 1
weight_density = 0.4
activation_density = 0.5
seed = 10

[[layer]]
name = "conv_b"
type = "conv"
input = "conv_a"
kernel = [1, 1]
out_channels = 8
weight_density = 0.5
relu = false
requant = "auto"
"""


def _write(tmp_path, text, name="net.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_workload_file_becomes_a_network(tmp_path):
    w = load_workload(_write(tmp_path, TWO_LAYERS))
    assert w.name == "net" and w.seed == 10 and w.inputs == ("conv_a.input",)
    a, b = w.layers
    assert (a.in_rows, a.in_cols, a.in_channels, a.out_channels, a.kernel, a.padding) == \
        (8, 8, 8, 16, 3, 1)
    assert b.input == "conv_a" and w.outputs == ("conv_b",)
    d_a = accumulation_density(8 * 9, 0.4, 0.5) * RELU_KEEPS
    assert w.tensor("conv_a").density == pytest.approx(d_a)
    assert w.tensor("conv_b").density == pytest.approx(accumulation_density(16, 0.5, d_a))
    assert IsoscelesModel().run(w).cycles > 0


@pytest.mark.parametrize("change, message", [
    # The block's reader validates the keys: its errors reach the model unchanged.
    (("kernel = [3, 3]", "kernal = [3, 3]"), "layer 'conv_a': unknown key 'kernal'; did you "
                                             "mean 'kernel'?"),
    (("activation_density = 0.5", "activation_density = 1.5"),
     "layer 'conv_a': activation_density: 1.5 is out of range 0..1"),
    (("seed = 10", 'tensors = "a.npz"'),
     "layer 'conv_a': weight_density: does not apply when 'tensors' gives"),
    # What the model cannot represent.
    (("weight_density = 0.4\nactivation_density = 0.5\nseed = 10", 'tensors = "a.npz"'),
     "layer 'conv_a': tensors: the performance model works from densities: measure them on the "
     "tensors (isosceles model does) or give weight_density and activation_density instead"),
    (("weight_density = 0.4", "weight_density = 0"),
     "layer 'conv_a': weight_density: 0 is outside the performance model's range (0, 1]"),
    (('requant = "auto"', 'requant = "auto"\n\n[[layer]]\nname = "p"\ntype = "add"\n'
                          'input = ["conv_b", "conv_b"]'),
     "layer 'p': input: adds 'conv_b' to itself"),
    (('requant = "auto"', 'requant = "auto"\n\n[[layer]]\nname = "m"\ntype = "maxpool"\n'
                          'input = "conv_a"\nkernel = [1, 1]\n\n[[layer]]\nname = "p"\n'
                          'type = "add"\ninput = ["conv_a", "m"]'),
     "layer 'p': input: the performance model folds an add into the layer that writes its "
     "later input, 'm', as its own networks fold a ResNet's skip add into the convolution "
     "before it; 'm' is a maxpool layer, not a convolution"),
    (('requant = "auto"', 'requant = "auto"\n\n[[layer]]\nname = "c"\ntype = "conv"\n'
                          'input = "conv_b"\nkernel = [1, 1]\nout_channels = 8\n'
                          'weight_density = 1\n\n[[layer]]\nname = "p"\ntype = "add"\n'
                          'input = ["c", "conv_b"]\n\n[[layer]]\nname = "q"\n'
                          'type = "fc"\ninput = "c"\nout_channels = 2\nweight_density = 1'),
     "layer 'p': input: the performance model folds an add into the layer that writes its "
     "later input, 'c', as its own networks fold a ResNet's skip add into the convolution "
     "before it; 'c' is also read by 'q': have only the add read it"),
])
def test_bad_workload_files_name_the_file_layer_and_key(tmp_path, change, message):
    path = _write(tmp_path, TWO_LAYERS.replace(*change, 1))
    with pytest.raises(WorkloadError) as error:
        load_workload(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: ") and message in text, text


def test_model_command_runs_a_workload_file(tmp_path, capsys):
    path = _write(tmp_path, TWO_LAYERS)
    report = tmp_path / "m.json"
    assert main(["model", "--workload", str(path), "--json", str(report),
                 "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "net   workload file: inputs as given" in out
    assert ("Pipelines of net (ISOSceles): cycles, DRAM bytes and why each starts where it "
            "does\n  conv_a, conv_b  (") in out
    document = json.loads(report.read_text())
    assert set(document["results"]) == {"net"}
    iso = document["results"]["net"]["ISOSceles"]
    assert document["summary"]["networks"]["net"]["pipelines"] == [
        {"layers": ["conv_a", "conv_b"], "boundary": None, "cycles": iso["cycles"],
         "dram_bytes": iso["traffic_total_bytes"]}]
    assert main(["model", "--workload", str(path), "--workload", str(path),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "two networks are named 'net'" in capsys.readouterr().err


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_workload_runs_in_the_model(path):
    w = load_workload(path)
    specs = read_workload_spec(path).layers
    order = [s.name for s in specs]
    # An add is folded into the layer that writes its later input.
    adds = {max(s.source, s.skip, key=order.index): s.name for s in specs if s.type == "add"}
    assert [layer.name for layer in w.layers] == [
        f"{s.name}+{adds[s.name]}" if s.name in adds else s.name for s in specs
        if s.type != "add"]
    result = IsoscelesModel().run(w)
    assert result.cycles > 0


def test_a_pool_is_modelled_with_its_window_and_pooled_density(tmp_path):
    text = TWO_LAYERS + ('\n[[layer]]\nname = "p"\ntype = "avgpool"\ninput = "conv_b"\n'
                         'kernel = [2, 2]\n')
    w = load_workload(_write(tmp_path, text))
    pool = w.layers[2]
    assert (pool.kind, pool.kernel, pool.stride, pool.in_channels) == ("avgpool", 2, 2, 8)
    assert (pool.out_rows, pool.out_cols) == (4, 4)
    assert w.tensor("p").density == pytest.approx(pooled_density(w.tensor("conv_b").density, 4))
def test_a_max_pooling_is_modelled_with_its_pooled_density(tmp_path):
    path = _write(tmp_path, TWO_LAYERS + '\n[[layer]]\nname = "p"\ntype = "maxpool"\n'
                                         'input = "conv_b"\nkernel = [2, 2]\n')
    w = load_workload(path)
    pool = w.layers[-1]
    assert (pool.kind, pool.in_channels, pool.out_channels, pool.kernel, pool.stride) == (
        "maxpool", 8, 8, 2, 2)
    density = {t.name: t.density for t in w.tensors}
    assert density["p"] == pytest.approx(1 - (1 - density["conv_b"]) ** 4)
    assert IsoscelesModel().run(w).cycles > 0


def test_a_rectangular_kernel_is_modelled_by_its_shapes_and_macs(tmp_path):
    text = TWO_LAYERS.replace("kernel = [3, 3]", "kernel = [3, 1]").replace(
        "padding = 1", "padding = [1, 0]")
    a = load_workload(_write(tmp_path, text)).layers[0]
    assert (a.kernel, a.kernel_cols, a.padding, a.padding_cols) == (3, 1, 1, 0)
    assert (a.out_rows, a.out_cols, a.products_per_output) == (8, 8, 8 * 3)
    assert a.dense_macs == 8 * 8 * 16 * 8 * 3 * 1
    wide = load_workload(_write(tmp_path, text.replace("[3, 1]", "[1, 3]").replace(
        "[1, 0]", "[0, 1]"), "wide.toml")).layers[0]
    assert (wide.out_rows, wide.out_cols, wide.dense_macs) == (8, 8, a.dense_macs)
    unpadded = load_workload(_write(tmp_path, text.replace("[1, 0]", "[0, 0]"), "u.toml"))
    assert (unpadded.layers[0].out_rows, unpadded.layers[0].out_cols) == (6, 8)
    # More taps cost more cycles than fewer; R and S are not interchangeable in the dataflow.
    model = IsoscelesModel()
    square = model.run(load_workload(_write(tmp_path, TWO_LAYERS, "sq.toml"))).cycles
    assert model.run(load_workload(_write(tmp_path, text, "r.toml"))).cycles < square


# conv_a -> conv_b -> conv_c, and the sum of conv_a and conv_c: a residual block whose skip
# stream (conv_a) bypasses two convolutions.
RESIDUAL = TWO_LAYERS.replace('kernel = [1, 1]\nout_channels = 8', 'kernel = [3, 3]\n'
                              'out_channels = 16\npadding = 1') + """
[[layer]]
name = "conv_c"
type = "conv"
input = "conv_b"
kernel = [3, 3]
out_channels = 16
padding = 1
weight_density = 0.3
relu = false
"""
ADD = """
[[layer]]
name = "skip"
type = "add"
input = ["conv_a", "conv_c"]
"""


def test_an_add_is_folded_into_the_convolution_before_it(tmp_path):
    text = RESIDUAL + ADD + ('\n[[layer]]\nname = "conv_d"\ntype = "conv"\ninput = "skip"\n'
                             'kernel = [1, 1]\nout_channels = 4\nweight_density = 0.5\n')
    w = load_workload(_write(tmp_path, text))
    assert [layer.name for layer in w.layers] == ["conv_a", "conv_b", "conv_c+skip", "conv_d"]
    folded, after = w.layers[2:]
    assert (folded.input, folded.residual, folded.kernel, folded.weight_density) == (
        "conv_b", "conv_a", 3, 0.3)
    assert after.input == "conv_c+skip" and w.outputs == ("conv_d",)
    assert "conv_c" not in {t.name for t in w.tensors}  # the sum is all that is written
    d_a = accumulation_density(8 * 9, 0.4, 0.5) * RELU_KEEPS
    d_b = accumulation_density(16 * 9, 0.5, d_a) * RELU_KEEPS
    d_c = accumulation_density(16 * 9, 0.3, d_b)  # relu = false
    assert w.tensor("conv_c+skip").density == pytest.approx(1 - (1 - d_c) * (1 - d_a))
    assert w.activation_source == EXPECTED_SOURCE


def _activation_bytes(tensor, act_bits):
    """Hand-computed bytes of an activation tensor in the model's format: per column an offset,
    then the cheaper of coordinates and a bitmask, then the values (or all of it dense)."""
    columns, elements = tensor.rows * tensor.cols, tensor.elements
    nonzeros = elements * tensor.density
    compressed = (columns * bits_for(int(nonzeros) + 2)
                  + min(nonzeros * bits_for(tensor.channels), elements) + nonzeros * act_bits)
    return min(elements * act_bits, compressed) / 8


def test_the_skip_tensor_moves_through_dram_only_across_a_pipeline_boundary(tmp_path):
    w = load_workload(_write(tmp_path, RESIDUAL + ADD))
    plain = load_workload(_write(tmp_path, RESIDUAL, "plain.toml"))
    paper = IsoscelesConfig.paper()
    bits = paper.numerics.act_bits

    def size(workload, tensor):
        return _activation_bytes(workload.tensor(tensor), bits)

    # One pipeline: the skip stream waits in the lanes' queues, only the network's input and
    # its result move.
    together = IsoscelesModel(paper).run(w)
    assert [g.layers for g in together.groups] == [("conv_a", "conv_b", "conv_c+skip")]
    assert together.traffic["input"] == pytest.approx(size(w, "conv_a.input"))
    assert together.traffic["output"] == pytest.approx(size(w, "conv_c+skip"))
    # Two mergers a lane: conv_a and conv_b take both, and conv_c with its skip add (two more)
    # starts a pipeline; conv_a is written and read back beside conv_b.
    small = paper.replace(layers_in_flight=2)
    first, second = IsoscelesModel(small).run(w).groups
    assert (first.layers, second.layers) == (("conv_a", "conv_b"), ("conv_c+skip",))
    assert second.boundary == ("conv_b and conv_c+skip in one pipeline: layers_in_flight "
                               "(mergers per lane) needs 4, the configuration has 2; raise it "
                               "or give the layer fewer channels")
    assert first.traffic["output"] == pytest.approx(size(w, "conv_a") + size(w, "conv_b"))
    assert second.traffic["input"] == pytest.approx(size(w, "conv_a") + size(w, "conv_b"))
    # Without the add, the same cut moves only conv_b.
    first, second = IsoscelesModel(small).run(plain).groups
    assert (first.layers, second.layers) == (("conv_a", "conv_b"), ("conv_c",))
    assert first.traffic["output"] == pytest.approx(size(plain, "conv_b"))
    assert second.traffic["input"] == pytest.approx(size(plain, "conv_b"))
    # Layer by layer, the add reads its skip tensor beside its input.
    single = IsoscelesModel(paper, pipelined=False).run(w).groups[2]
    assert single.traffic["input"] == pytest.approx(size(w, "conv_a") + size(w, "conv_b"))


def test_the_skip_add_takes_a_merger_of_the_union_of_both_streams(tmp_path):
    # A sparse conv_c, so that the union depends on both streams.
    sparse = {"weight_densities": {"conv_c": 0.002}}
    w = load_workload(_write(tmp_path, RESIDUAL + ADD), **sparse)
    plain = load_workload(_write(tmp_path, RESIDUAL, "plain.toml"), **sparse)
    # Pooled mergers (a sensitivity study) charge the lane's total merge work over its 16
    # mergers, so the skip add's own work shows: the union of conv_c's accumulations and
    # conv_a's nonzeros, one a cycle, on 8 output columns of 2 channels a lane (K split over
    # 64 // 8 lanes).
    model = IsoscelesModel(pipelined=False, pooled_mergers=True)
    added, alone = model.run(w).groups[2], model.run(plain).groups[2]
    d_b = plain.tensor("conv_b").density
    t2 = accumulation_density(16 * 9, 0.002, d_b)
    union = 8 * 2 * (1 - (1 - t2) * (1 - w.tensor("conv_a").density))
    assert 0.1 < t2 < 0.5 and union < 8 * 2 * 0.9
    assert added.merger_cycles - alone.merger_cycles == pytest.approx(union / 16)
    assert added.compute_cycles == pytest.approx(alone.compute_cycles)


def test_a_file_with_tensors_is_modelled_at_its_measured_densities():
    w = load_network(DIGITS)
    golden = {layer.name: layer for layer in load_golden_workload(DIGITS).layers}
    assert w.activation_source == "workload file: 9 of 9 tensors at measured densities"
    assert [layer.name for layer in w.layers] == [
        "conv1", "conv2", "conv3+skip", "pool", "conv4", "average", "fc"]
    assert w.layers[2].residual == "conv1" and w.layers[3].input == "conv3+skip"

    def measured(array):
        return np.count_nonzero(array) / array.size

    for layer in w.layers:
        if layer.has_weights:
            spec = layer.name.split("+")[0]  # conv3+skip: conv3's weights
            assert layer.weight_density == measured(golden[spec].weights)
    assert w.tensor("conv1.input").density == measured(golden["conv1"].input)
    for tensor, layer in (("conv1", "conv1"), ("conv3+skip", "skip"), ("pool", "pool"),
                          ("fc", "fc")):
        assert w.tensor(tensor).density == measured(golden[layer].output)
    assert 0 < w.tensor("conv3+skip").density < 1


def test_the_digits_cnn_pipelines_and_its_skip_traffic():
    w = load_network(DIGITS)
    result = IsoscelesModel().run(w)
    assert [(g.layers, g.boundary) for g in result.groups] == [
        (("conv1",), None),
        (("conv2", "conv3+skip"), "conv1 runs on its own"),
        (("pool",), "pool (maxpool) ends a pipeline and runs on its own"),
        (("conv4",), "pool runs on its own"),
        (("average",), "average (avgpool) ends a pipeline and runs on its own"),
        (("fc",), "fc ends a pipeline and runs on its own")]
    bits = IsoscelesConfig.paper().numerics.act_bits
    conv1, conv2 = (_activation_bytes(w.tensor(t), bits) for t in ("conv1", "conv2"))
    # conv1 runs on its own and is written once; the pipeline reads it once, as conv2's input
    # and as the skip stream, and keeps conv2 on chip.
    assert result.groups[0].traffic["output"] == pytest.approx(conv1)
    assert result.groups[1].traffic["input"] == pytest.approx(conv1)
    single = IsoscelesModel(pipelined=False).run(w)
    assert single.groups[2].layers == ("conv3+skip",)
    assert single.groups[2].traffic["input"] == pytest.approx(conv1 + conv2)
    # Pipelining saves writing and reading conv2 and reading conv1 a second time (the skip).
    assert single.traffic_bytes - result.traffic_bytes == pytest.approx(2 * conv2 + conv1)


def test_tensors_files_are_measured_and_their_errors_are_one_line(tmp_path):
    path = _write(tmp_path, TWO_LAYERS.replace(
        "weight_density = 0.4\nactivation_density = 0.5\nseed = 10", 'tensors = "a.npz"'))
    # The golden model's reader of tensors files: its errors reach the model unchanged.
    with pytest.raises(WorkloadError, match=f"^{path}: layer 'conv_a': tensors: cannot read "):
        load_network(path)
    seed = 5
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    image = rng.integers(-3, 4, (8, 8, 8)).astype(np.int8)
    weights = (rng.integers(-3, 4, (8, 3, 16, 3)) * (rng.random((8, 3, 16, 3)) < 0.3))
    np.savez(tmp_path / "a.npz", input=image, weights=weights.astype(np.int8))
    w = load_network(path)
    assert w.layers[0].weight_density == np.count_nonzero(weights) / weights.size
    assert w.tensor("conv_a.input").density == np.count_nonzero(image) / image.size
    np.savez(tmp_path / "a.npz", input=image, weights=np.zeros((8, 3, 16, 3), np.int8))
    with pytest.raises(WorkloadError) as error:
        load_network(path)
    assert str(error.value) == (
        f"{path}: layer 'conv_a': tensors: the measured weight density 0 is outside the "
        "performance model's range (0, 1]: a layer without weights does no work; remove the "
        "layer")


def test_measured_densities_replace_the_expected_ones(tmp_path):
    path = _write(tmp_path, RESIDUAL + ADD)
    w = load_workload(path, weight_densities={"conv_b": 0.25},
                      activation_densities={"conv_a.input": 0.3, "skip": 0.9})
    assert w.layers[1].weight_density == 0.25
    assert w.tensor("conv_a.input").density == 0.3 and w.tensor("conv_c+skip").density == 0.9
    # The tensors between follow the measured ones.
    assert w.tensor("conv_a").density == pytest.approx(
        accumulation_density(8 * 9, 0.4, 0.3) * RELU_KEEPS)
    assert w.activation_source == (
        "workload file: 2 of 5 tensors at measured densities; the rest: inputs as given, later "
        "layers at the expected density of their accumulations (halved by a ReLU)")
    # The convolution an add is folded into: its output is the stream the skip is added to.
    d_a = accumulation_density(8 * 9, 0.4, 0.5) * RELU_KEEPS
    w = load_workload(path, activation_densities={"conv_c": 0.2})
    assert w.tensor("conv_c+skip").density == pytest.approx(1 - 0.8 * (1 - d_a))
    assert w.activation_source.startswith("workload file: 1 of 5 tensors at measured ")
    with pytest.raises(ValueError, match="activation densities for 'conv_d', which the file "
                                         "does not have; it has conv_a.input, conv_a, conv_b"):
        load_workload(path, activation_densities={"conv_d": 0.5, "conv_a": 0.5})
    with pytest.raises(ValueError, match="weight densities for 'skip', which the file"):
        load_workload(path, weight_densities={"skip": 0.5})


def test_model_command_prints_the_digits_cnn(tmp_path, capsys):
    assert main(["model", "--workload", str(DIGITS), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "digits_cnn  workload file: 9 of 9 tensors at measured densities\n" in out
    report = out.split("Pipelines of digits_cnn (ISOSceles): cycles, DRAM bytes and why each "
                       "starts where it does\n")[1].split("\n\n")[0].splitlines()
    assert [line.split("  (")[0].strip() for line in report[:-1]] == [
        "conv1", "conv2, conv3+skip", "pool", "conv4", "average", "fc"]
    assert report[1].endswith(" B): conv1 runs on its own")
    assert report[-1].startswith("  layer by layer (single) ") and "; pipelined " in report[-1]
