"""`isosceles demo` checks the golden model, prints every interface's traffic, runs a shipped
layer on the block's RTL, bit-exact, and writes its report folder."""

import json

from isosceles.gen.cli import main
from isosceles.gen.report import FILES


def test_demo_passes_and_reports(capsys, tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", "--seed", "1", "--report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "== dense reference" in out and ": OK" in out
    interfaces = ("I   input lanes", "T1  PE outputs", "T2  R-merger outputs", "O   POU outputs")
    for interface in interfaces:
        assert interface in out
    assert "peak live partial sums per lane" in out
    assert "resnet_3x3.toml: bit-exact against the golden model" in out
    assert "MAC util" in out
    assert f"report: {folder}/" in out
    assert sorted(path.name for path in folder.iterdir()) == sorted(FILES)
    report = json.loads((folder / "report.json").read_text())
    assert report["bit_exact"] and report["layers"]
    for layer in report["layers"]:
        assert layer["cycles"] >= max(layer["bounds"].values())
        assert sum(layer["dram_bytes_by_tensor"].values()) == (layer["dram_read_bytes"]
                                                                + layer["dram_write_bytes"])
    log = (folder / "run.log").read_text()
    assert "IS-OS golden model == dense reference" in log and "bit-exact" in log
