"""The shipped pruned int8 digits CNN: its accuracy, sparsity and files, the IS-OS model on its
layers, what ``isosceles run`` says of it, and the trainer's determinism.

Weight sparsity of the shipped network (zero weights / weights): conv1 0.806 (28 of 144 weights
nonzero), conv2, conv3 and conv4 0.800 each (921 of 4608 nonzero), fc 0.803 (63 of 320 nonzero);
0.800 over all 14288 weights.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import check_fits
from isosceles.golden import conv2d, dense_conv2d
from isosceles.golden.digits import (
    DIGITS_DIR,
    DIGITS_WORKLOAD,
    classify,
    load_network,
    load_test_split,
)
from isosceles.golden.layers import fully_connected
from isosceles.golden.network import Conv, FullyConnected
from isosceles.golden.pou import pou_dense
from isosceles.golden.workload_file import load_workload
from isosceles.golden.workload_spec import read_workload_spec

ROOT = Path(__file__).resolve().parents[1]


def _trainer():
    spec = importlib.util.spec_from_file_location("train_digits",
                                                  ROOT / "scripts" / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def network():
    return load_network()


@pytest.fixture(scope="module")
def split():
    return load_test_split()


@pytest.fixture(scope="module")
def classified(network, split):
    return classify(network, split[0])


def test_int8_accuracy_on_the_test_split(split, classified):
    images, labels = split
    logits, predictions = classified
    accuracy = (predictions == labels).mean()
    print(f"int8 accuracy {accuracy:.4f} on {len(labels)} test images")
    assert logits.shape == (len(labels), 10)
    assert accuracy >= 0.95
    # The workload's description states the same figure (the trainer measured it this way).
    stated = re.search(r"int8 test accuracy (\d\.\d+)", read_workload_spec(DIGITS_WORKLOAD)
                       .description)
    assert float(stated.group(1)) == round(accuracy, 4)


def test_every_weighted_layer_is_at_least_80_percent_sparse(network):
    weighted = [layer for layer in network.layers if isinstance(layer, (Conv, FullyConnected))]
    assert [layer.name for layer in weighted] == ["conv1", "conv2", "conv3", "conv4", "fc"]
    total = zeros = 0
    for layer in weighted:
        sparsity = (layer.weights == 0).mean()
        print(f"{layer.name}: {sparsity:.4f} of {layer.weights.size} weights are zero")
        assert sparsity >= 0.8, layer.name
        total, zeros = total + layer.weights.size, zeros + (layer.weights == 0).sum()
    assert zeros / total >= 0.8


def test_docs_digits_md_states_the_shipped_figures(network, split, classified):
    doc = (ROOT / "docs" / "digits.md").read_text()
    for layer in network.layers:
        if isinstance(layer, (Conv, FullyConnected)):
            w = layer.weights
            row = f"| {w.size} | {np.count_nonzero(w)} | {100 * (w == 0).mean():.1f} % |"
            assert re.search(rf"^\| `{layer.name}` \|.*{re.escape(row)}$", doc, re.M), layer.name
    correct = int((classified[1] == split[1]).sum())
    assert f"| int8, golden model (`classify`) | {100 * correct / len(split[1]):.2f} % " \
           f"({correct}) |" in doc
    sizes = {path.name: path.stat().st_size for path in DIGITS_DIR.iterdir()}
    assert f"{sum(sizes.values())} bytes in all" in doc
    assert f"`test.npz` (`images` int8 [359, 8, 8, 1], `labels` uint8 [359]), " \
           f"{sizes['test.npz']} bytes" in doc


def test_the_shipped_files_match_the_workload(split):
    spec = read_workload_spec(DIGITS_WORKLOAD)
    assert [(s.name, s.type) for s in spec.layers] == [
        ("conv1", "conv"), ("conv2", "conv"), ("conv3", "conv"), ("skip", "add"),
        ("pool", "maxpool"), ("conv4", "conv"), ("average", "avgpool"), ("fc", "fc")]
    assert [s.output_shape for s in spec.layers] == [
        (8, 8, 16), (8, 8, 32), (8, 8, 16), (8, 8, 16), (4, 4, 16), (4, 4, 32), (1, 1, 32),
        (1, 1, 10)]
    for s in spec.layers:
        if s.tensors is None:
            continue
        with np.load(s.tensors) as npz:
            assert npz["weights"].dtype == np.int8 and npz["weights"].shape == s.weight_shape
            for key in ("bias", "mult", "shift"):
                assert npz[key].shape == (s.out_channels,), (s.name, key)
            if s.source is None:
                assert npz["input"].dtype == np.int8 and npz["input"].shape == s.input_shape
    images, labels = split
    with np.load(DIGITS_DIR / "test.npz") as npz:
        assert npz["images"].dtype == np.int8 and sorted(npz.files) == ["images", "labels"]
    assert images.shape == (len(labels), 8, 8, 1) and images.min() == 0 and images.max() == 16
    assert set(labels) == set(range(10)) and len(labels) == 359
    # The workload's input is test image 0, and its golden output the network's on it.
    workload = load_workload(DIGITS_WORKLOAD)
    assert np.array_equal(workload.layers[0].input, images[0])
    assert np.array_equal(workload.layers[-1].output.reshape(-1),
                          classify(workload.network(), images[:1])[0][0])
    package_data = (ROOT / "pyproject.toml").read_text()
    assert '"isosceles.golden" = ["data/digits/*.toml", "data/digits/*.npz"]' in package_data


@pytest.mark.parametrize("index", [0, 1, 100, 358])
def test_the_isos_model_equals_the_dense_reference_on_every_layer(network, split, index):
    values = network.run(split[0][index])
    for layer in network.layers:
        x = values[network._sources(layer)[0]]
        if isinstance(layer, Conv):
            isos = conv2d(x, layer.weights, stride=layer.stride, padding=layer.padding)
            dense = dense_conv2d(x, layer.weights, stride=layer.stride, padding=layer.padding)
        elif isinstance(layer, FullyConnected):
            # As the block runs it: a 1x1 convolution of a 1x1 image with H*W*C channels.
            isos = conv2d(x.reshape(1, 1, -1), layer.weights[:, None, :, None])
            dense = fully_connected(x.reshape(-1), layer.weights)[None, None, :]
        else:
            continue
        assert np.array_equal(isos, dense), layer.name
        assert np.array_equal(pou_dense(isos, layer.pou), values[layer.name]), layer.name
        assert np.abs(isos).max() < 1 << 15  # no saturation anywhere: the dense sum is exact


def test_the_default_block_takes_every_layer_and_a_smaller_one_names_the_first_it_cannot(
        capsys, tmp_path):
    check_fits(load_workload(DIGITS_WORKLOAD), IsoscelesConfig())
    message = ("layer 'average' has filter height R = 4, above 3 (raise max_kernel in the "
               "configuration)")
    with pytest.raises(ValueError, match=re.escape(message)):
        check_fits(load_workload(DIGITS_WORKLOAD), IsoscelesConfig(max_kernel=3))
    config = tmp_path / "c.toml"
    config.write_text("max_kernel = 3\n")
    assert main(["run", str(DIGITS_WORKLOAD), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("index", [1, 100, 358])
def test_the_workload_on_another_image_is_the_network_on_it(network, split, index):
    images, _ = split
    workload = load_workload(DIGITS_WORKLOAD, input=images[index])
    assert np.array_equal(workload.layers[0].input, images[index])
    assert np.array_equal(workload.layers[-1].output.reshape(-1),
                          classify(network, images[index:index + 1])[0][0])


def test_another_input_of_the_wrong_shape_or_range_is_refused(split):
    images, _ = split
    with pytest.raises(ValueError, match=re.escape(
            "layer 'conv1': input: the given input is int64 [8, 4, 1]; the layer takes integers "
            "of shape [8, 8, 1]")):
        load_workload(DIGITS_WORKLOAD, input=images[0][:, :4])
    with pytest.raises(ValueError, match=re.escape(
            "layer 'conv1': input: the given input's values 0..200 do not fit act_bits = 8 "
            "(-128..127)")):
        load_workload(DIGITS_WORKLOAD, input=images[1] * 200 // images[1].max())


def test_the_trainer_writes_the_same_bytes_twice(tmp_path, split):
    """Two short runs on the shipped test split (no scikit-learn needed) write identical files;
    the shipped files are the same function of the full data set."""
    trainer = _trainer()
    images, labels = split
    data = (images[:240], labels[:240], images[240:], labels[240:])
    first = trainer.build(tmp_path / "a", epochs=1, fine_tune_epochs=1, split=data)
    second = trainer.build(tmp_path / "b", epochs=1, fine_tune_epochs=1, split=data)
    names = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert names == sorted(path.name for path in DIGITS_DIR.iterdir()
                           if path.suffix in (".npz", ".toml"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["int8_accuracy"] == second["int8_accuracy"]
    assert all(value >= 0.8 for value in first["sparsity"].values())


@pytest.mark.slow
def test_the_trainer_reproduces_the_shipped_files(tmp_path):
    pytest.importorskip("sklearn", reason="the train extra (scikit-learn) is not installed")
    _trainer().build(tmp_path)
    for path in sorted(DIGITS_DIR.glob("*")):
        if path.suffix in (".npz", ".toml"):
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
