"""The report folder of `isosceles run` and `isosceles demo`: every file written, plots drawn
from a run's JSON, nothing half-written, an unwritable folder refused before any work."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from isosceles.gen.cli import main
from isosceles.gen.report import FILES, report_folder, tee_stdout, write_report

WORKLOAD = Path(__file__).resolve().parents[1] / "workloads" / "resnet_3x3.toml"


def synthetic_report(tmp_path, layers=3):
    """A report as `isosceles run` returns it, with made-up figures and a simulation log."""
    log = tmp_path / "sim.log"
    log.write_text("cocotb log\n")
    rows = []
    for index in range(layers):
        cycles = 1000 * (index + 1)
        tensors = {"input": 400 + index, "input halo": 40, "filters": 300, "POU table": 64,
                   "output": 200}
        rows.append({"name": f"conv{index}", "cycles": cycles, "effectual_macs": 8000 + index,
                     "mac_utilization": (8000 + index) / (cycles * 32),
                     "bounds": {"macs": 250 + index, "walk": 600, "t1": 700, "merge": 500,
                                "dram": 120},
                     "dram_bytes_by_tensor": tensors,
                     "dram_read_bytes": sum(tensors.values()) - 200, "dram_write_bytes": 200})
    cycles = sum(row["cycles"] for row in rows)
    macs = sum(row["effectual_macs"] for row in rows)
    return {"workload": "w.toml", "bit_exact": True, "cycles": cycles, "effectual_macs": macs,
            "macs_per_cycle_peak": 32, "mac_utilization": macs / (cycles * 32),
            "layers": rows, "log": str(log), "waveform": None}


def test_every_file_is_written_and_the_plots_are_pictures(tmp_path):
    report = synthetic_report(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    write_report(out, report, "printed\n")
    assert sorted(path.name for path in out.iterdir()) == sorted(FILES)
    assert json.loads((out / "report.json").read_text()) == report
    assert (out / "run.log").read_text() == "printed\n"
    assert (out / "sim.log").read_text() == "cocotb log\n"
    for name in FILES:
        if name.endswith(".png"):
            picture = imread(out / name)
            assert picture.shape[0] > 300 and picture.shape[1] > 600
            assert np.ptp(picture[..., :3]) > 0.5  # something is drawn, not a blank canvas


def test_a_failed_run_leaves_no_folder_and_no_staging(tmp_path):
    folder = tmp_path / "reports" / "w"
    with pytest.raises(RuntimeError), report_folder(folder) as staging:
        (staging / "report.json").write_text("{}")
        raise RuntimeError("the run failed")
    assert list((tmp_path / "reports").iterdir()) == []


def test_a_run_that_wrote_nothing_leaves_no_folder(tmp_path):
    with report_folder(tmp_path / "w"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_new_report_replaces_its_files_and_keeps_others(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "run.log").write_text("old")
    with report_folder(folder) as staging:
        (staging / "run.log").write_text("new")
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "run.log").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["w"]


@pytest.mark.parametrize("command", [["run", str(WORKLOAD)], ["demo"]])
def test_an_unwritable_report_folder_is_refused_before_any_work(command, tmp_path, capsys):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("")
    assert main([*command, "--report", str(in_the_way / "report")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not even the demo's golden-model check ran
    (line,) = captured.err.strip().splitlines()
    assert "--report" in line and str(in_the_way / "report") in line and "writable" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file"]


def test_a_report_folder_that_is_a_file_is_refused(tmp_path, capsys):
    in_the_way = tmp_path / "report"
    in_the_way.write_text("")
    assert main(["run", str(WORKLOAD), "--report", str(in_the_way)]) == 2
    assert f"--report {in_the_way} exists and is not a folder" in capsys.readouterr().err


def test_tee_stdout_prints_and_keeps(capsys):
    with tee_stdout() as log:
        print("seen twice")
    assert log.getvalue() == "seen twice\n" and capsys.readouterr().out == "seen twice\n"
