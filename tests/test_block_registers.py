"""The register map and error codes that docs/memory.md gives a host are the block's."""

import re
from pathlib import Path

import numpy as np
import pytest

from isosceles.golden.memory_image import LayerImage, MemoryImage
from isosceles.golden.pou import PouParams
from isosceles.hw.block import DESCRIPTOR_FIELDS, BlockError, block_registers

DOC = (Path(__file__).parent.parent / "docs" / "memory.md").read_text()


def test_documented_registers_are_the_map():
    documented = re.findall(r"^\| `(0x[0-9a-f]+)` \| `(\w+)` \| (\w+) \| (\d+) \|", DOC, re.M)
    assert documented == [(f"{r.offset:#04x}", r.name, r.access, str(r.width))
                          for r in block_registers()]


def test_documented_error_codes_are_the_block_s():
    table = DOC[DOC.index("| code | error | meaning |"):]
    table = table[:table.index("\n\n")]
    documented = re.findall(r"^\| (\d+) \| `(\w+)` \|", table, re.M)
    assert documented == [(str(code.value), code.name) for code in BlockError]


def test_descriptor_registers_hold_every_descriptor_field():
    layer = LayerImage.conv(MemoryImage(), np.ones((2, 2, 1), int), np.ones((1, 1, 1, 1), int),
                            PouParams.make([0], [1], [0]))
    assert list(DESCRIPTOR_FIELDS) == list(layer.descriptor())


@pytest.mark.parametrize("register", block_registers(), ids=lambda r: r.name)
def test_register_names_are_c_identifiers(register):
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", register.name)


def test_a_block_with_more_lanes_than_its_master_serves_is_refused():
    from isosceles.gen.config import IsoscelesConfig
    from isosceles.hw.block import IsosBlock

    with pytest.raises(ValueError, match="lanes=15: the block's AXI master serves at most 16 "
                                         "read clients"):
        IsosBlock(IsoscelesConfig(lanes=15))
