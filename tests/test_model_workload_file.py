"""The performance model reads the IS-OS block's TOML workload files."""

import json
from pathlib import Path

import pytest

from isosceles.gen.cli import main
from isosceles.golden.workload_spec import WorkloadError, read_workload_spec
from isosceles.perf.isosceles_model import IsoscelesModel
from isosceles.perf.workload_file import RELU_KEEPS, load_workload
from isosceles.perf.workloads import accumulation_density, pooled_density

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "workloads").glob("*.toml"))
# The shipped files the model's reader takes: it refuses add layers.
MODELLED = [path for path in SHIPPED
            if all(layer.type != "add" for layer in read_workload_spec(path).layers)]

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
    # What the model cannot represent.
    (("seed = 10", 'tensors = "a.npz"'),
     "layer 'conv_a': weight_density: does not apply when 'tensors' gives"),
    (("weight_density = 0.4\nactivation_density = 0.5\nseed = 10", 'tensors = "a.npz"'),
     "layer 'conv_a': tensors: is not read by the performance model, which works from "
     "densities"),
    (("weight_density = 0.4", "weight_density = 0"),
     "layer 'conv_a': weight_density: 0 is outside the performance model's range (0, 1]"),
    (('requant = "auto"', 'requant = "auto"\n\n[[layer]]\nname = "p"\ntype = "add"\n'
                          'input = ["conv_b", "conv_b"]'),
     "layer 'p': type: 'add' layers are not read by the performance model yet"),
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
    assert "Pipelines of net (ISOSceles) and why each starts where it does\n  conv_a, conv_b\n" \
        in out
    document = json.loads(report.read_text())
    assert set(document["results"]) == {"net"}
    assert document["summary"]["networks"]["net"]["pipelines"] == [
        {"layers": ["conv_a", "conv_b"], "boundary": None}]
    assert main(["model", "--workload", str(path), "--workload", str(path),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "two networks are named 'net'" in capsys.readouterr().err


def test_the_model_refuses_the_shipped_add_layer_in_one_line():
    path = next(path for path in SHIPPED if path.name == "residual_add.toml")
    assert path not in MODELLED
    with pytest.raises(WorkloadError, match="layer 'skip': type: 'add' layers are not read by "
                                            "the performance model yet") as error:
        load_workload(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("path", MODELLED, ids=lambda path: path.name)
def test_every_shipped_workload_runs_in_the_model(path):
    w = load_workload(path)
    assert [layer.name for layer in w.layers] == [
        layer.name for layer in read_workload_spec(path).layers]
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
