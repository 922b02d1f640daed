"""scripts/soak.py: seeds, probes, failures with their rerun command, coverage union."""

import importlib.util
import json
from pathlib import Path

import pytest

from isosceles.tb.coverage import Coverage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A bench in miniature: prints the harness's seed line, fails on seeds divisible by 3, reports
# coverage; one test pinned to a seed, one that draws none.
BENCH = '''
import json, os

def test_seeded():
    seed = int(os.environ["ISOSCELES_SEED"])
    print(f"[isosceles.tb] unit params={{}} seed={seed}")
    bins = {"even": int(seed % 2 == 0), "never": 0}
    print("[isosceles.tb] coverage: " + json.dumps({"bench": "unit", "bins": bins}))
    assert seed % 3, f"seed {seed} is a multiple of 3"

def test_pinned():
    print("[isosceles.tb] unit params={} seed=5 (pinned)")

def test_plain():
    pass
'''


def test_soak_runs_every_seed_and_names_failures(soak, tmp_path):
    bench = tmp_path / "test_unit.py"
    bench.write_text(BENCH)
    nodes = [f"{bench}::{name}" for name in ("test_seeded", "test_pinned", "test_plain")]
    seeds = list(range(10, 16))
    runner = soak.Soak({str(bench): nodes}, seeds, jobs=2, timeout=120, log=lambda line: None)
    runner.run()
    result = soak.summary(runner, seeds, 1.0)
    tests = result["benches"][str(bench)]["tests"]
    seeded, pinned, plain = (tests[node] for node in nodes)
    assert seeded["seeded"] and not pinned["seeded"] and not plain["seeded"]
    assert pinned["pinned"] == [5] and pinned["passed"] == [10] and plain["passed"] == [10]
    assert sorted(seeded["passed"]) == [10, 11, 13, 14]
    assert [(f["seed"], f["line"]) for f in sorted(seeded["failed"], key=lambda f: f["seed"])] == [
        (12, "AssertionError: seed 12 is a multiple of 3"),
        (15, "AssertionError: seed 15 is a multiple of 3")]
    assert seeded["failed"][0]["rerun"].startswith("ISOSCELES_SEED=")
    assert result["runs"] == 8 and result["bench_runs"] == 6 and result["failures"] == 2
    assert result["coverage"]["union"] == {"even": 3, "never": 0}
    assert result["coverage"]["never"] == ["never"]
    text = soak.report(result)
    assert "4 seeds passed, 2 failed (12, 15)" in text and "never reached: never" in text


def test_a_crashing_run_fails_every_test(soak, tmp_path):
    bench = tmp_path / "test_broken.py"
    bench.write_text("import no_such_module\n\ndef test_a():\n    pass\n")
    results, _ = soak.run_one(str(bench), [f"{bench}::test_a"], 1, timeout=120)
    assert not results[f"{bench}::test_a"]["ok"]


def test_patterns(soak):
    node = "tb/test_core.py::test_core_golden_layers"
    assert soak.matches(node, "core")
    assert soak.matches(node, "pou|test_core.py::*golden*")
    assert not soak.matches(node, "tb/test_pou*")


def test_benches_in_soak_order(soak):
    names = [path.stem for path in soak.bench_files(ROOT / "tb")]
    assert names[0] == "test_pou_loader" and names[-4:] == ["test_core", "test_calibration",
                                                             "test_block", "test_block_faults"]
    assert "test_formal" not in names


def test_coverage_counts_declared_bins_only(tmp_path, monkeypatch):
    coverage = Coverage("unit", ["a", "b"])
    coverage.hit("a")
    coverage.hit("b", reached=False)
    assert coverage.missed == ["b"]
    assert coverage.lines()[0] == "coverage of unit: 1 of 2 bins reached"
    with pytest.raises(KeyError, match="bin 'c' is not declared"):
        coverage.hit("c")
    monkeypatch.setenv("ISOSCELES_TB_CONTEXT", str(tmp_path / "context.json"))
    coverage.save()
    assert json.loads((tmp_path / "coverage.json").read_text())["bins"] == {"a": 1, "b": 0}
