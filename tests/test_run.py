"""`isosceles run` checks a workload against the configuration before any build, and names the
first output that differs from the golden model."""

import re
from dataclasses import replace

import numpy as np
import pytest

from isosceles.gen.bounds import layer_bounds
from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import RunMismatch, _check_layer, check_fits
from isosceles.golden.memory_image import LayerImage, MemoryImage, activation_word_count
from isosceles.golden.reference import effectual_macs
from isosceles.golden.workload_file import load_workload

NUMERICS = IsoscelesConfig().numerics
LAYER = """
[[layer]]
name = "wide"
type = "conv"
input = [6, 6, 4]
kernel = [{R}, {S}]
out_channels = {K}
weight_density = 0.5
activation_density = 0.5
seed = 3
"""


@pytest.mark.parametrize("shape, message", [
    (dict(R=5, S=3, K=4), "layer 'wide' has filter height R = 5, above 4 (raise max_kernel"),
    (dict(R=3, S=3, K=40), "layer 'wide' has output channels K = 40, above 32 (raise "
                           "max_channels"),
])
def test_a_layer_the_core_cannot_run_is_refused_before_any_build(shape, message, tmp_path,
                                                                 capsys):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(**shape))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_filters_larger_than_the_filter_buffer_are_refused_before_any_build(tmp_path, capsys):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.replace("[6, 6, 4]", "[6, 6, 32]").replace("0.5\nactivation", "1.0\n"
                                                                       "activation")
                    .format(R=3, S=3, K=32))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "layer 'wide''s filters need 1152 filter buffer words of 8 weights, above the" in err
    assert "(raise filter_buffer_bytes in the configuration)" in err
    assert len(err.strip().splitlines()) == 1


def test_an_average_pool_the_pou_cannot_divide_is_refused_before_any_build(tmp_path, capsys):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(R=3, S=3, K=4).replace("[6, 6, 4]", "[8, 8, 4]")
                    + '\n[[layer]]\nname = "pool"\ninput = "wide"\ntype = "avgpool"\n'
                      'kernel = [6, 6]\nstride = 1\n')
    assert main(["run", str(path), "--config", str(_big_kernels(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert ("layer 'pool': no POU multiplier of mult_bits = 16 and shift of shift_bits = 5 "
            "divides by a 6x6 window's area") in err and len(err.strip().splitlines()) == 1


def _big_kernels(tmp_path):
    """A configuration whose lanes take 6x6 windows (the refusal is the POU's, not the core's)."""
    path = tmp_path / "big.toml"
    path.write_text("max_kernel = 7\nlanes = 7\n")
    return path


def _golden_run(layer):
    """What the block's bench reports for a layer it ran right."""
    i, f, stride, padding, groups = layer.conv_arguments()
    image = MemoryImage()
    placed = layer.layout(image)
    placed.write_output(image, layer.output)
    read, written = placed.compulsory_bytes(image)
    band_read = placed.band_read_bytes(image, IsoscelesConfig().lanes)
    pou = 8 * layer.output.shape[2]
    input_bytes = 8 * i.shape[0] + 4 * activation_word_count(i)
    return {"error": "NONE", "output": layer.output.tolist(),
            "macs": effectual_macs(i, f, stride, padding, groups),
            "read_bytes": band_read, "write_bytes": written,
            "compulsory_read": read, "compulsory_written": written, "band_read": band_read,
            "input_bytes": input_bytes, "filter_bytes": read - input_bytes - pou,
            "pou_bytes": pou, "bus_read_bytes": band_read, "bus_write_bytes": written,
            "load_cycles": 1, "input_stall_cycles": 0, "output_stall_cycles": 0,
            "row_tables": {"input": placed.input.table, "output": placed.output.table}}


@pytest.fixture
def layer(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(R=3, S=3, K=4))
    (layer,) = load_workload(path).layers
    return layer


def test_a_right_run_reports_its_figures(layer):
    run = _golden_run(layer)
    figures = _check_layer(layer, run, NUMERICS)
    assert figures["dram_read_bytes"] == run["band_read"]
    assert figures["halo_read_bytes"] == run["band_read"] - run["compulsory_read"] > 0
    tensors = figures["dram_bytes_by_tensor"]
    assert tensors["input halo"] == figures["halo_read_bytes"]
    assert tensors["output"] == figures["dram_write_bytes"]
    assert sum(tensors.values()) == figures["dram_read_bytes"] + figures["dram_write_bytes"]


def test_tensor_bytes_that_do_not_add_up_are_a_mismatch(layer):
    run = _golden_run(layer)
    run["filter_bytes"] += 4
    with pytest.raises(RunMismatch, match="do not add up"):
        _check_layer(layer, run, NUMERICS)


def test_a_mismatch_names_the_first_differing_coordinate(layer):
    run = _golden_run(layer)
    p, q, k = (int(x) for x in np.argwhere(layer.output != 0)[0])
    run["output"][p][q][k] += 1
    with pytest.raises(RunMismatch, match=rf"output \[p={p}, q={q}, k={k}\]"):
        _check_layer(layer, run, NUMERICS)


def test_an_error_code_is_a_mismatch(layer):
    run = _golden_run(layer)
    run["error"] = "INPUT_FORMAT"
    with pytest.raises(RunMismatch, match="ended with error INPUT_FORMAT"):
        _check_layer(layer, run, NUMERICS)


@pytest.mark.parametrize("counter", ["read_bytes", "write_bytes", "macs"])
def test_a_wrong_counter_is_a_mismatch(layer, counter):
    run = _golden_run(layer)
    run[counter] += 4
    with pytest.raises(RunMismatch, match="the block counted"):
        _check_layer(layer, run, NUMERICS)


ADD = LAYER + LAYER.replace('"wide"', '"other"').replace("seed = 3", "seed = 4") + """
[[layer]]
name = "sum"
type = "add"
input = ["wide", "other"]
"""


@pytest.fixture
def add_workload(tmp_path):
    path = tmp_path / "add.toml"
    path.write_text(ADD.format(R=3, S=3, K=4))
    return load_workload(path)


def _golden_add_run(layer):
    """What the block's bench reports for a residual add it ran right."""
    image = MemoryImage()
    placed = LayerImage.add(image, layer.input, layer.addend)
    placed.write_output(image, layer.output)
    read, written = placed.compulsory_bytes(image)
    return {"error": "NONE", "output": layer.output.tolist(), "macs": 0,
            "read_bytes": read, "write_bytes": written, "compulsory_read": read,
            "compulsory_written": written, "band_read": read, "input_bytes": read,
            "filter_bytes": 0, "pou_bytes": 0, "bus_read_bytes": read,
            "bus_write_bytes": written, "load_cycles": 0, "input_stall_cycles": 0,
            "output_stall_cycles": 0, "row_tables": {"input": placed.input.table,
                                                      "input2": placed.input2.table,
                                                      "output": placed.output.table}}


def test_a_right_add_run_reports_its_figures_and_bounds(add_workload):
    layer = add_workload.layer("sum")
    run = _golden_add_run(layer)
    figures = _check_layer(layer, run, NUMERICS)
    assert figures["effectual_macs"] == 0 and figures["halo_read_bytes"] == 0
    assert figures["dram_bytes_by_tensor"]["input"] == figures["dram_read_bytes"]
    config = IsoscelesConfig()
    bounds = layer_bounds(layer, config, effectual_macs=0, dram_bytes=4)
    # Bands of lanes // 2 rows, each as long as its row with the most distinct (w, marker, c).
    H, W, _ = layer.input.shape
    keys = [W + len({(w, c) for x in (layer.input, layer.addend)
                     for w, c in zip(*np.nonzero(x[h]), strict=True)}) for h in range(H)]
    half = config.lanes // 2
    assert bounds == {"macs": 0, "walk": 0, "t1": 0, "dram": 1, "merge": sum(
        max(keys[first:first + half]) for first in range(0, H, half))}


@pytest.mark.parametrize("counter", ["read_bytes", "write_bytes", "macs"])
def test_a_wrong_add_counter_is_a_mismatch(add_workload, counter):
    layer = add_workload.layer("sum")
    run = _golden_add_run(layer)
    run[counter] += 4
    with pytest.raises(RunMismatch, match="the block counted"):
        _check_layer(layer, run, NUMERICS)


def test_an_add_the_block_cannot_run_is_refused_before_any_build(add_workload, tmp_path, capsys):
    only_add = replace(add_workload, layers=add_workload.layers[2:])
    with pytest.raises(ValueError, match=re.escape(
            "layer 'sum' has input channels C = 4, above 2 (raise max_channels in the "
            "configuration)")):
        check_fits(only_add, IsoscelesConfig(max_channels=2))
    path = tmp_path / "one_lane.toml"
    path.write_text(ADD.format(R=1, S=1, K=4))
    config = tmp_path / "one_lane_config.toml"
    config.write_text("lanes = 1\nmax_kernel = 1\n")
    assert main(["run", str(path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert ("layer 'sum' (add) needs two lanes, one for each input; the configuration has "
            "lanes = 1 (raise lanes to 2)") in err and len(err.strip().splitlines()) == 1


POOLED = LAYER.format(R=3, S=3, K=4) + """relu = {relu}

[[layer]]
name = "pool"
type = "maxpool"
input = "wide"
kernel = [{size}, {size}]
stride = {stride}
"""


def test_a_max_pooling_runs_on_the_block_as_a_depthwise_convolution_of_ones(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(POOLED.format(relu="true", size=2, stride=2))
    workload = load_workload(path)
    check_fits(workload, IsoscelesConfig())
    pool = workload.layer("pool")
    i, f, stride, padding, groups = pool.conv_arguments()
    assert (f.shape, groups, stride) == ((1, 2, 4, 2), 4, 2) and (f == 1).all()
    image = MemoryImage()
    descriptor = pool.layout(image).descriptor()
    assert (descriptor["kind"], descriptor["K"], descriptor["groups"], descriptor["relu"]) == (
        2, 4, 4, 0)
    figures = _check_layer(pool, _golden_run(pool), NUMERICS)
    assert figures["effectual_macs"] == effectual_macs(i, f, stride, padding, groups) > 0


def test_a_max_pooling_of_negative_values_is_refused_before_any_build(tmp_path, capsys):
    path = tmp_path / "w.toml"
    path.write_text(POOLED.format(relu="false", size=2, stride=2))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "layer 'pool': a max pooling's input must have no negative value, and it has" in err
    assert "(the block counts an absent activation as zero): put a ReLU before it" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("size, stride, message", [
    (2, 4, "layer 'pool' has stride = 4, above 3 (the block's largest)"),
    (4, 1, "layer 'pool' has filter height R = 4, above 3 (raise max_kernel"),
])
def test_a_max_pooling_the_block_cannot_run_is_refused_before_any_build(size, stride, message,
                                                                        tmp_path, capsys):
    path, config = tmp_path / "w.toml", tmp_path / "c.toml"
    path.write_text(POOLED.format(relu="true", size=size, stride=stride))
    config.write_text("max_kernel = 3\n")
    assert main(["run", str(path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
