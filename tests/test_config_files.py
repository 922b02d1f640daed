"""Configurations on disk: the shipped presets, round trips, and every error message."""

from pathlib import Path

import pytest

from isosceles.gen.cli import build_parser, load_config, main
from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.numerics import Numerics

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
PRESETS = {"default": IsoscelesConfig(), "paper": IsoscelesConfig.paper(),
           "ulx3s": IsoscelesConfig.ulx3s()}


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_what_the_dataclass_writes(name):
    """Regenerate with ``IsoscelesConfig.<name>().save('configs/<name>.toml')`` (default:
    ``IsoscelesConfig()``) when the defaults change."""
    assert (CONFIGS / f"{name}.toml").read_text() == PRESETS[name].to_toml()
    assert IsoscelesConfig.load(CONFIGS / f"{name}.toml") == PRESETS[name]


def test_round_trip_of_every_field(tmp_path):
    odd = IsoscelesConfig(numerics=Numerics(act_bits=4, weight_bits=5, acc_bits=9, bias_bits=7,
                                            mult_bits=3, shift_bits=2),
                          lanes=3, macs_per_pe=5, pes_per_lane=2, max_kernel=5, max_channels=9,
                          max_columns=11, filter_buffer_bytes=999, context_bytes=777,
                          queue_bytes=555, kmerger_radix=9, layers_in_flight=3, clock_hz=123.5,
                          dram_bytes_per_cycle=0.25)
    path = tmp_path / "odd.toml"
    odd.save(path)
    assert IsoscelesConfig.load(path) == odd
    # Every field is written, with its unit and range.
    lines = [line for line in path.read_text().splitlines() if " = " in line]
    assert len(lines) == len(odd.as_dict()) - 1 + len(vars(odd.numerics))
    assert "acc_bits = 9  # bits (signed), an integer from 8 to 32 (at least act_bits + " \
           "weight_bits - 1)" in lines
    assert "lanes = 3  # lanes, an integer from 1 to 1024" in lines
    assert "clock_hz = 123.5  # Hz, a finite number > 0" in lines


def test_missing_keys_take_defaults_and_integers_are_numbers():
    config = IsoscelesConfig.from_toml("lanes = 2\nclock_hz = 100\n[numerics]\nact_bits = 4\n")
    assert config == IsoscelesConfig(lanes=2, clock_hz=100.0, numerics=Numerics(act_bits=4))


@pytest.mark.parametrize("text, message", [
    ("lane = 3", "c.toml: unknown key 'lane' (did you mean 'lanes'?)"),
    ("[numerics]\nact_bit = 3", "c.toml: unknown key 'act_bit' in [numerics] (did you mean "
                                "'act_bits'?)"),
    ("zzz = 1", "c.toml: unknown key 'zzz' (known keys: lanes, macs_per_pe, pes_per_lane, "
                "max_kernel, max_channels, max_columns, filter_buffer_bytes, context_bytes, "
                "queue_bytes, kmerger_radix, layers_in_flight, clock_hz, dram_bytes_per_cycle, "
                "axi_data_width)"),
    ("act_bits = 8", "c.toml: act_bits belongs in the [numerics] table"),
    ("numerics = 3", "c.toml: numerics must be a table ([numerics]), not 3"),
    ("lanes = 0", "c.toml: lanes must be an integer from 1 to 1024, not 0"),
    ("lanes = 2.0", "c.toml: lanes must be an integer from 1 to 1024, not 2.0"),
    ("lanes = '4'", "c.toml: lanes must be an integer from 1 to 1024, not '4'"),
    ("lanes = true", "c.toml: lanes must be an integer from 1 to 1024, not True"),
    ("kmerger_radix = 257", "c.toml: kmerger_radix must be an integer from 2 to 256, not 257"),
    ("context_bytes = 0", "c.toml: context_bytes must be an integer >= 1, not 0"),
    ("clock_hz = -1", "c.toml: clock_hz must be a finite number > 0, not -1"),
    ("dram_bytes_per_cycle = inf",
     "c.toml: dram_bytes_per_cycle must be a finite number > 0, not inf"),
    ("[numerics]\nacc_bits = 14",
     "c.toml: [numerics] acc_bits must be an integer from 15 to 32, not 14"),
    ("[numerics]\nact_bits = 4\nweight_bits = 4\nacc_bits = 6",
     "c.toml: [numerics] acc_bits must be an integer from 7 to 32, not 6"),
])
def test_bad_file_is_one_line_naming_file_field_value_and_range(text, message):
    with pytest.raises(ValueError) as error:
        IsoscelesConfig.from_toml(text, source="c.toml")
    assert str(error.value) == message


def test_malformed_toml_names_the_file_and_the_place(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("lanes = 4\nlanes = \n")
    with pytest.raises(ValueError) as error:
        IsoscelesConfig.load(path)
    assert str(error.value).startswith(f"{path}: not valid TOML: ")
    assert "line 2" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("argv", [["model"], ["generate", "-o", "x"],
                                  ["synth", "--target", "generic"]])
def test_commands_take_config(argv):
    args = build_parser().parse_args([*argv, "--config", str(CONFIGS / "ulx3s.toml")])
    assert load_config(args) == IsoscelesConfig.ulx3s()


def test_a_bad_config_file_stops_the_model_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("lanes = 0\n")
    assert main(["model", "--config", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"isosceles model: error: {bad}: lanes must be an integer from 1 to 1024, not 0\n")
