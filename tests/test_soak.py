"""scripts/soak.py: seeds, probes, the time budget, failures with their rerun command, the
coverage union and the sums of what the benches checked; tb/checked.py's counts."""

import importlib.util
import json
from pathlib import Path

import pytest

from isosceles.tb import checked
from isosceles.tb.coverage import Coverage
from isosceles.tb.streams import check_tokens

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A bench in miniature: prints the harness's seed line, fails on seeds divisible by 3, reports
# coverage and what it checked (two layers and `seed` O tokens, then one row); one test pinned
# to a seed, one that draws none.
BENCH = '''
import json, os

def test_seeded():
    seed = int(os.environ["ISOSCELES_SEED"])
    print(f"[isosceles.tb] unit params={{}} seed={seed}")
    bins = {"even": int(seed % 2 == 0), "never": 0}
    print("[isosceles.tb] coverage: " + json.dumps({"bench": "unit", "bins": bins}))
    print("[isosceles.tb] checked: " + json.dumps({"cases": {"layers": 2},
                                                   "tokens": {"O": seed}}))
    print("[isosceles.tb] checked: " + json.dumps({"cases": {"rows": 1}, "tokens": {}}))
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
    runner = soak.Soak({str(bench): nodes}, 10, jobs=2, timeout=120, log=lambda line: None,
                       seeds=6)
    runner.run()
    result = soak.summary(runner, 1.0)
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
    assert result["seeds"] == [10, 15]
    assert result["coverage"]["union"] == {"even": 3, "never": 0}
    assert result["coverage"]["never"] == ["never"]
    # Every run counts what it checked, the failing ones up to their failure.
    assert result["layers"] == 12 and result["cases"] == {"layers": 12, "rows": 6}
    assert result["tokens"] == sum(range(10, 16)) and result["tokens_by_stream"] == {"O": 75}
    assert result["mismatches"] == 2
    assert sorted((f["seed"], f["rerun"]) for f in result["failing"]) == [
        (seed, f"ISOSCELES_SEED={seed} python -m pytest '{nodes[0]}'") for seed in (12, 15)]
    data = result["benches"][str(bench)]
    assert data["cases"] == {"layers": 12, "rows": 6} and data["tokens"] == 75
    assert sorted(run["seed"] for run in data["runs"]) == list(range(10, 16))
    text = soak.report(result)
    assert "4 seeds passed, 2 failed (12, 15)" in text and "never reached: never" in text
    assert "checked: 12 layers; 12 layers, 6 rows, 75 tokens checked" in text


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


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_runner(clock, seconds, layers):
    """A runner that takes ``seconds`` of the fake ``clock`` per run and checks ``layers``
    layers of 10 tokens each; every test follows the seed."""
    def run(bench, nodes, seed, timeout):
        clock.now += seconds
        result = {"ok": True, "skipped": False, "seeds": [(seed, False)], "line": None,
                  "coverage": [], "checked": [{"cases": {"layers": layers},
                                               "tokens": {"O": 10 * layers}}]}
        return {node: dict(result) for node in nodes}, seconds
    return run


def test_minutes_draw_seeds_in_turn_until_the_deadline(soak):
    clock = FakeClock()
    plan = {"tb/test_a.py": ["tb/test_a.py::test_a"], "tb/test_b.py": ["tb/test_b.py::test_b"]}
    runner = soak.Soak(plan, 1, jobs=1, timeout=60, log=lambda line: None, deadline=60.0,
                       runner=fake_runner(clock, 10.0, 3), clock=clock)
    runner.run()
    # Both probes (0 to 20 s), then a new seed for each bench in turn while the clock is
    # below 60 s: runs start at 20, 30, 40 and 50 s; the one that starts at 50 ends at 60.
    assert [run["seed"] for run in runner.runs["tb/test_a.py"]] == [1, 2, 3]
    assert [run["seed"] for run in runner.runs["tb/test_b.py"]] == [1, 2, 3]
    assert clock.now == 60.0
    result = soak.summary(runner, clock.now, minutes=1.0)
    assert result["layers"] == 18 and result["tokens"] == 180 and result["bench_runs"] == 6
    # 3 layers in each 10 s run after the probe: 18 a minute.
    assert result["benches"]["tb/test_a.py"]["cases_per_minute"] == {"layers": 18.0}


def test_probes_run_whatever_the_time_and_seeds_cap_a_timed_soak(soak):
    plan = {f"tb/test_{n}.py": [f"tb/test_{n}.py::test"] for n in "abc"}
    clock = FakeClock()
    late = soak.Soak(plan, 5, jobs=2, timeout=60, log=lambda line: None, deadline=1.0,
                     runner=fake_runner(clock, 10.0, 1), clock=clock)
    late.run()
    assert {bench: [run["seed"] for run in runs] for bench, runs in late.runs.items()} == {
        bench: [5] for bench in plan}
    clock = FakeClock()
    capped = soak.Soak(plan, 1, jobs=1, timeout=60, log=lambda line: None, seeds=2,
                       deadline=1000.0, runner=fake_runner(clock, 10.0, 1), clock=clock)
    capped.run()
    assert clock.now == 60.0 and all(len(runs) == 2 for runs in capped.runs.values())
    with pytest.raises(ValueError, match="give --seeds or --minutes"):
        soak.Soak(plan, 1, jobs=1, timeout=60, log=lambda line: None)


def test_json_keys(soak, tmp_path, monkeypatch, capsys):
    """main() with --minutes writes the keys the issue asks for; no simulator runs."""
    clock = FakeClock()
    monkeypatch.setattr(soak, "collect", lambda files: ["tb/test_pou_loader.py::test_golden"])
    out = tmp_path / "soak.json"
    assert soak.main(["--minutes", "1", "--json", str(out)],
                     runner=fake_runner(clock, 25.0, 2), clock=clock) == 0
    result = json.loads(out.read_text())
    assert {"layers", "cases", "tokens", "mismatches", "failing", "seeds", "minutes",
            "benches", "coverage", "elapsed_s"} <= set(result)
    # The probe (0 to 25 s), then seeds 2 and 3 (starting at 25 and 50 s).
    assert result["minutes"] == 1.0 and result["seeds"] == [1, 3] and result["layers"] == 6
    assert result["cases"] == {"layers": 6} and result["tokens"] == 60
    assert result["mismatches"] == 0 and result["failing"] == []
    assert "checked: 6 layers; 6 layers, 60 tokens checked" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--minutes", "0"], "--minutes must be more than 0, not 0.0"),
    (["--seeds", "0"], "--seeds must be at least 1, not 0"),
])
def test_bad_arguments_are_named(soak, capsys, argv, message):
    with pytest.raises(SystemExit):
        soak.main(argv)
    assert message in capsys.readouterr().err


def test_checked_counts_and_writes_them_through(tmp_path, monkeypatch):
    monkeypatch.setattr(checked, "_counts", {"cases": {}, "tokens": {}})
    monkeypatch.setenv("ISOSCELES_TB_CONTEXT", str(tmp_path / "context.json"))
    checked.case("layers")
    checked.case("layers", 2)
    check_tokens([{"q": 0}, {"q": 1}], [{"q": 0}, {"q": 1}], "row 0", "O")
    with pytest.raises(AssertionError, match="row 1: O token 1 is {'q': 2}, golden {'q': 1}"):
        check_tokens([{"q": 0}, {"q": 2}], [{"q": 0}, {"q": 1}], "row 1", "O")
    with pytest.raises(AssertionError, match="row 2: 1 O tokens, golden 2"):
        check_tokens([{"q": 0}], [{"q": 0}, {"q": 1}], "row 2", "O")
    expected = {"cases": {"layers": 3}, "tokens": {"O": 2}}
    assert checked.counts() == expected
    assert json.loads((tmp_path / "checked.json").read_text()) == expected
    with pytest.raises(ValueError, match="count must be an integer >= 0, not -1"):
        checked.tokens("O", -1)
    with pytest.raises(ValueError, match="need a name, not ''"):
        checked.case("")


def test_a_runner_that_raises_fails_its_tests_and_the_soak_goes_on(soak):
    clock = FakeClock()
    working = fake_runner(clock, 10.0, 1)

    def runner(bench, nodes, seed, timeout):
        if bench == "tb/test_a.py" and seed == 2:
            raise OSError("no junit file")
        return working(bench, nodes, seed, timeout)

    plan = {"tb/test_a.py": ["tb/test_a.py::test"], "tb/test_b.py": ["tb/test_b.py::test"]}
    runs = soak.Soak(plan, 1, jobs=2, timeout=60, log=lambda line: None, seeds=3, runner=runner,
                     clock=clock)
    runs.run()
    result = soak.summary(runs, clock.now)
    assert result["mismatches"] == 1 and result["bench_runs"] == 6
    assert result["failing"][0]["seed"] == 2
    assert result["failing"][0]["line"] == "the soak could not run it: OSError('no junit file')"
