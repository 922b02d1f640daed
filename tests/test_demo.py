"""`isosceles demo` checks the golden model, prints every interface's traffic, runs the pruned
digits CNN on the block's RTL for a batch of test images, bit-exact, and writes its report folder
and JSON."""

import json

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.report import FILES
from isosceles.golden.digits import classify, load_network, load_test_split


def test_demo_runs_the_digits_cnn_on_the_rtl_and_reports(capsys, tmp_path):
    folder, out_json = tmp_path / "demo", tmp_path / "demo.json"
    assert main(["demo", "--seed", "1", "--images", "2", "--report", str(folder),
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "== dense reference" in out and ": OK" in out
    for interface in ("I   input lanes", "T1  PE outputs", "T2  R-merger outputs",
                      "O   POU outputs"):
        assert interface in out
    assert "peak live partial sums per lane" in out
    images, labels = load_test_split()
    predictions = classify(load_network(), images[:2])[1]
    for number in (1, 2):
        assert (f"image {number}/2: label {labels[number - 1]}, predicted "
                f"{predictions[number - 1]}, ") in out
    assert out.count("bit-exact at every layer") == 2
    assert "digits_cnn.toml on the RTL: 2 images, bit-exact" in out
    assert "inter-layer pipelining on the RTL is not built yet" in out
    assert f"report: {folder}/" in out
    assert sorted(path.name for path in folder.iterdir()) == sorted(FILES)
    report = json.loads(out_json.read_text())
    assert report == json.loads((folder / "report.json").read_text())
    assert (report["images"], report["mode"], report["bit_exact"]) == (2, "layer-by-layer", True)
    assert report["accuracy"] == np.mean(predictions == labels[:2])
    assert [image["prediction"] for image in report["per_image"]] == predictions.tolist()
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["conv1", "conv2", "conv3", "skip", "pool", "conv4", "average", "fc"]
    assert report["cycles_per_image"] == pytest.approx(
        np.mean([image["cycles"] for image in report["per_image"]]))
    assert report["cycles_per_image"] == pytest.approx(
        sum(layer["cycles"] for layer in report["layers"]))
    assert report["dram_bytes_per_image"] == pytest.approx(
        np.mean([image["dram_bytes"] for image in report["per_image"]]))
    # Each layer read the rows the block wrote for the layer before it, where it wrote them.
    tables = report["per_image"][1]["row_tables"]
    sources = {"conv2": "conv1", "conv3": "conv2", "skip": "conv1", "pool": "skip",
               "conv4": "pool", "average": "conv4", "fc": "average"}
    for name, source in sources.items():
        assert tables[name]["input"] == tables[source]["output"], name
    assert tables["skip"]["input2"] == tables["conv3"]["output"]
    for layer in report["layers"]:
        assert layer["cycles"] >= max(layer["bounds"].values())
        assert sum(layer["dram_bytes_by_tensor"].values()) == pytest.approx(
            layer["dram_read_bytes"] + layer["dram_write_bytes"])
    log = (folder / "run.log").read_text()
    assert "IS-OS golden model == dense reference" in log and "accuracy" in log


@pytest.mark.parametrize("arguments, message", [
    (["--images", "0"], "--images must be from 1 to 359 (the test split's images), not 0"),
    (["--no-rtl", "--json", "x.json"], "--json writes the RTL run's figures; drop --no-rtl or "
                                       "--json"),
])
def test_demo_refuses_bad_arguments_before_running(arguments, message, capsys):
    assert main(["demo", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_demo_refuses_a_configuration_that_cannot_run_the_network_before_running(capsys,
                                                                                tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("max_kernel = 3\n")
    assert main(["demo", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert "layer 'average' has filter height R = 4, above 3 (raise max_kernel" in line
