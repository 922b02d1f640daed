"""``isosceles generate``: Verilog, manifest, C header and lint of every unit; determinism; no
half-written output."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen import units
from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.generator import LintError, generate, module_ports
from isosceles.gen.units import UNITS, build_unit

# Small, so every unit converts in seconds: the ulx3s preset.
CONFIG = IsoscelesConfig.ulx3s()
# The lane takes ~30 s to convert; the block, which holds four, has a test of its own.
FAST_UNITS = [name for name in UNITS if name not in ("pe", "block")]


def _signature_ports(component):
    """Ports as the component's signature declares them (Verilog name -> direction, width)."""
    ports = {"clk": ("input", 1), "rst": ("input", 1)}
    for path, member, value in component.signature.flatten(component):
        separator = "_" if path[0] in units.BUS_PORTS else "__"
        name = separator.join(map(str, (units.PORT_RENAMES.get(path[0], path[0]), *path[1:])))
        ports[name] = ("input" if member.flow == In else "output", len(value.as_value())
                       if hasattr(value, "as_value") else len(value))
    return ports


@pytest.mark.parametrize("unit", FAST_UNITS)
def test_unit_generates_lint_clean_with_a_true_manifest(unit, tmp_path):
    manifest = generate(CONFIG, tmp_path / "out", unit)
    top = f"isosceles_{unit}"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{top}.h", f"{top}.json", f"{top}.v"]
    assert json.loads((tmp_path / "out" / f"{top}.json").read_text()) == manifest
    text = (tmp_path / "out" / f"{top}.v").read_text()
    ports = module_ports(text, top)
    assert not [p for p in ports if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p["name"])]
    component, params = build_unit(unit, CONFIG)
    assert {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]} == \
        _signature_ports(component)
    assert [{k: p[k] for k in ("name", "direction", "width")} for p in manifest["ports"]] == \
        ports
    assert manifest["parameters"] == params
    assert manifest["config"] == CONFIG.as_dict()
    assert manifest["lint"]["ran"] and manifest["lint"]["clean"]
    assert manifest["tools"]["amaranth"] and manifest["tools"]["verilator"]


def _exit_status(folder, header, expression):
    """Compile ``int main(void) { return EXPRESSION; }`` against ``header`` in ``folder`` with
    ``cc -Wall -Werror`` and run it: its exit status."""
    program = folder / "main.c"
    program.write_text(f'#include "{header}"\nint main(void) {{ return {expression}; }}\n')
    subprocess.run(["cc", "-Wall", "-Werror", "-I", str(folder), "-o", str(folder / "main"),
                    str(program)], check=True)
    return subprocess.run([str(folder / "main")]).returncode


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_the_block_is_the_default_top_level_with_axi_ports_and_a_register_map(tmp_path):
    from isosceles.hw.block import BlockError, block_registers

    manifest = generate(CONFIG, tmp_path)
    assert manifest["top"] == "isosceles_block"
    names = {p["name"] for p in manifest["ports"]}
    assert {"clk", "rst", "s_axil_awaddr", "s_axil_rdata", "m_axi_araddr", "m_axi_wstrb",
            "m_axi_rlast"} <= names
    assert not [name for name in names if "__" in name]
    component, _ = build_unit("block", CONFIG)
    assert {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]} == \
        _signature_ports(component)
    assert [r["name"] for r in manifest["host"]["registers"]] == [
        r.name for r in block_registers()]
    assert manifest["host"]["error_codes"] == {e.name: e.value for e in BlockError}
    assert manifest["lint"]["ran"] and manifest["lint"]["clean"]
    assert _exit_status(tmp_path, "isosceles_block.h", "ISOSCELES_BLOCK_REG_STATUS - 4 "
                        "+ ISOSCELES_BLOCK_ERROR_SHAPE - 1 + ISOSCELES_BLOCK_LANES - 4") == 0


def test_struct_ports_list_their_fields_and_keywords_are_renamed(tmp_path):
    manifest = generate(CONFIG, tmp_path, "pou", lint=False)
    ports = {p["name"]: p for p in manifest["ports"]}
    assert "config" not in ports  # a Verilog keyword: Yosys would escape it
    assert [f["name"] for f in ports["cfg"]["fields"]] == ["K", "relu"]
    assert [f["name"] for f in ports["o__payload"]["fields"]] == ["q", "k", "value", "marker",
                                                                  "last"]
    assert manifest["lint"] == {"ran": False, "reason": "--no-lint"}


def test_pe_builds_from_the_config():
    lane, params = build_unit("pe", CONFIG)
    assert params["macs_per_pe"] == CONFIG.macs_per_pe and params["max_kernel"] == 3
    assert lane.context.nbytes <= CONFIG.context_bytes


_GENERATE = """
import sys
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.generator import generate
generate(IsoscelesConfig.ulx3s(), sys.argv[1], sys.argv[2], lint=False)
"""


@pytest.mark.parametrize("unit", ["kmerger"])  # several modules, port arrays, a struct
def test_verilog_is_the_same_bytes_in_two_processes_and_holds_no_path(unit, tmp_path):
    texts = []
    for run, hash_seed in enumerate(["1", "2"]):
        out = tmp_path / f"run{run}"
        subprocess.run([sys.executable, "-c", _GENERATE, str(out), unit], check=True,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}, cwd=tmp_path)
        texts.append((out / f"isosceles_{unit}.v").read_bytes())
    assert texts[0] == texts[1]
    text = texts[0].decode()
    for path in {str(Path(__file__).resolve().parent.parent), sys.prefix, str(tmp_path),
                 str(Path.home())}:
        assert path not in text
    assert "src =" not in text and ".py:" not in text


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_c_header_compiles_with_warnings_as_errors(tmp_path):
    generate(CONFIG, tmp_path, "queue", lint=False)
    # contexts 2, and the push port carries a context bit beside each token
    assert _exit_status(tmp_path, "isosceles_queue.h", "ISOSCELES_QUEUE_CONTEXTS + "
                        "ISOSCELES_QUEUE_I__PAYLOAD_WIDTH - 2 - ISOSCELES_QUEUE_TOKEN_BITS") == 1


class _Unused(wiring.Component):
    """A unit that Verilator's lint rejects: an input nothing reads."""

    def __init__(self):
        super().__init__({"a": In(unsigned(4)), "b": Out(unsigned(4))})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.b.eq(1)
        return m


@pytest.fixture
def lint_failing_unit(monkeypatch):
    monkeypatch.setitem(UNITS, "unused", units.Unit(lambda config: (_Unused(), {}), "bad"))


def test_lint_failure_writes_nothing(tmp_path, lint_failing_unit):
    with pytest.raises(LintError, match="^verilator --lint-only -Wall found warnings in "
                                        "isosceles_unused; nothing was written") as error:
        generate(CONFIG, tmp_path / "out", "unused")
    assert "UNUSEDSIGNAL" in error.value.report and "'a'" in error.value.report
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a staging folder


def test_lint_failure_exits_non_zero(tmp_path, lint_failing_unit, capsys):
    assert main(["generate", "-o", str(tmp_path / "out"), "--unit", "unused"]) == 1
    assert "isosceles generate: error: verilator --lint-only" in capsys.readouterr().err
    assert main(["generate", "-o", str(tmp_path / "out"), "--unit", "unused",
                 "--no-lint"]) == 0
    assert (tmp_path / "out" / "isosceles_unused.v").exists()


def test_existing_folder_keeps_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "isosceles_stream_buffer.v").write_text("old")
    generate(CONFIG, tmp_path, "stream_buffer", lint=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "isosceles_stream_buffer.v").read_text().startswith("/* Generated by")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_cli_generates_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("max_columns = 8\n")
    assert main(["generate", "--config", str(config), "-o", str(tmp_path / "out"), "--unit",
                 "stream_buffer"]) == 0
    assert "wrote isosceles_stream_buffer.v, .json and .h" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "out" / "isosceles_stream_buffer.json").read_text())
    assert manifest["config"]["max_columns"] == 8


@pytest.mark.parametrize("argv, message", [
    (["--unit", "top"], "isosceles generate: error: --unit must be one of block, core, pe, "
                        "rmerger, row_merger, merge_adder, kmerger, pou, queue, heap, "
                        "stream_buffer, not 'top'"),
    (["--unit", "pou", "--config", "missing.toml"], "argument --config: 'missing.toml' is not "
                                                    "a file that exists"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "-o", "out", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_is_refused_before_work(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    assert main(["generate", "-o", str(tmp_path / "out"), "--unit", "pou"]) == 2
    assert f"-o {tmp_path / 'out'} exists and is not a folder" in capsys.readouterr().err


def test_package_entry_point_is_generate():
    import isosceles.gen

    assert isosceles.gen.generate is generate


def test_a_default_top_level_is_one_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(units, "DEFAULT_UNIT", "stream_buffer")
    assert generate(CONFIG, tmp_path, lint=False)["top"] == "isosceles_stream_buffer"
