"""The word/beat adapters on Verilator against a bus model."""

import pytest

from isosceles.hw.words import WordPacker, WordUnpacker
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_words"


def adapter(*, unit, data_width, max_words):
    cls = WordUnpacker if unit == "unpacker" else WordPacker
    return cls(data_width=data_width, addr_width=12, max_words=max_words, outstanding=3)


CONFIGS = [dict(unit=unit, data_width=width, max_words=9)
           for unit in ("unpacker", "packer") for width in (32, 128)]
IDS = [f"{c['unit']}-{c['data_width']}" for c in CONFIGS]
TESTS = {"unpacker": "unpacker_serves_word_requests", "packer": "packer_writes_word_requests"}


@pytest.mark.parametrize("params", CONFIGS, ids=IDS)
def test_words_against_bus(params):
    run_cocotb(adapter, params=params, test_module=MODULE, testcase=TESTS[params["unit"]])


@pytest.mark.parametrize("params", CONFIGS[1::2], ids=IDS[1::2])
def test_words_throughput(params):
    run_cocotb(adapter, params=params, test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("unit", ["unpacker", "packer"])
@pytest.mark.parametrize("data_width", [32, 64, 128, 256])
def test_words_lint(unit, data_width):
    lint(adapter, params=dict(unit=unit, data_width=data_width, max_words=64))


@pytest.mark.parametrize("kwargs, match", [
    (dict(data_width=48), "data_width must be"),
    (dict(data_width=64, outstanding=2), "outstanding must be"),
    (dict(data_width=64, max_words=0), "max_words must be"),
])
def test_words_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WordUnpacker(**kwargs)
