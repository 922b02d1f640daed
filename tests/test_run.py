"""`isosceles run` checks a workload against the configuration before any build, and names the
first output that differs from the golden model."""

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import RunMismatch, _check_layer, check_fits
from isosceles.golden.memory_image import MemoryImage, activation_word_count
from isosceles.golden.reference import effectual_macs
from isosceles.golden.workload_file import load_workload

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
    (dict(R=5, S=3, K=4), "layer 'wide' has filter height R = 5, above 3 (raise max_kernel"),
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
            "load_cycles": 1, "input_stall_cycles": 0, "output_stall_cycles": 0}


@pytest.fixture
def layer(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(R=3, S=3, K=4))
    (layer,) = load_workload(path).layers
    return layer


def test_a_right_run_reports_its_figures(layer):
    run = _golden_run(layer)
    figures = _check_layer(layer, run)
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
        _check_layer(layer, run)


def test_a_mismatch_names_the_first_differing_coordinate(layer):
    run = _golden_run(layer)
    p, q, k = (int(x) for x in np.argwhere(layer.output != 0)[0])
    run["output"][p][q][k] += 1
    with pytest.raises(RunMismatch, match=rf"output \[p={p}, q={q}, k={k}\]"):
        _check_layer(layer, run)


def test_an_error_code_is_a_mismatch(layer):
    run = _golden_run(layer)
    run["error"] = "INPUT_FORMAT"
    with pytest.raises(RunMismatch, match="ended with error INPUT_FORMAT"):
        _check_layer(layer, run)


@pytest.mark.parametrize("counter", ["read_bytes", "write_bytes", "macs"])
def test_a_wrong_counter_is_a_mismatch(layer, counter):
    run = _golden_run(layer)
    run[counter] += 4
    with pytest.raises(RunMismatch, match="the block counted"):
        _check_layer(layer, run)


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
    figures = _check_layer(pool, _golden_run(pool))
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
    path = tmp_path / "w.toml"
    path.write_text(POOLED.format(relu="true", size=size, stride=stride))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
