"""The performance model reads the IS-OS block's TOML workload files."""

import json

import pytest

from isosceles.gen.cli import main
from isosceles.perf.isosceles_model import IsoscelesModel
from isosceles.perf.workload_file import RELU_KEEPS, load_workload
from isosceles.perf.workloads import accumulation_density

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
    (("kernel = [3, 3]", "kernal = [3, 3]"), "layer 'conv_a': unknown key 'kernal'; did you "
                                             "mean 'kernel'?"),
    (("kernel = [3, 3]", "kernel = [1, 3]"), "kernel [1, 3] is not square"),
    (("weight_density = 0.4\n", ""), "layer 'conv_a': weight_density is missing"),
    (('input = "conv_a"', 'input = "conv_c"'), "layer 'conv_b': input 'conv_c' is neither"),
    (("seed = 10", 'tensors = "a.npz"'), "tensors is not read by the performance model"),
    (('type = "conv"', 'type = "pool"'), "type must be one of conv, depthwise, fc, not 'pool'"),
    (("activation_density = 0.5", "activation_density = 1.5"),
     "activation_density must be a number in [0, 1], not 1.5"),
])
def test_bad_workload_files_name_the_file_layer_and_key(tmp_path, change, message):
    path = _write(tmp_path, TWO_LAYERS.replace(*change, 1))
    with pytest.raises(ValueError, match="^net.toml: .*" + message.replace("[", r"\[")
                       .replace("]", r"\]").replace("?", r"\?")):
        load_workload(path)


def test_model_command_runs_a_workload_file(tmp_path, capsys):
    path = _write(tmp_path, TWO_LAYERS)
    report = tmp_path / "m.json"
    assert main(["model", "--workload", str(path), "--json", str(report),
                 "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "net   workload file: inputs as given" in out
    assert set(json.loads(report.read_text())["results"]) == {"net"}
    assert main(["model", "--workload", str(path), "--workload", str(path),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "two networks are named 'net'" in capsys.readouterr().err
