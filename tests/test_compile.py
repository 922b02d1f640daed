"""`isosceles compile`: a workload file as the memory image and descriptors a host runs on the
block; every layer's input found through its descriptor alone, the outputs written where the
descriptors say, the files the same bytes every time."""

import json

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.compile import FILES, compile_workload
from isosceles.golden.digits import DIGITS_WORKLOAD
from isosceles.golden.memory_image import (
    ENTRY_BYTES,
    WORD_BYTES,
    Area,
    MemoryImage,
    activation_words,
    read_activation,
)
from isosceles.golden.workload_file import load_workload

BASE = 0x8000


def _write_output(image, descriptor, o):
    """What the block writes for a layer, from its descriptor: row ``p`` of ``o`` at word
    ``p * output_row_stride`` of the output word area, then its row table entry."""
    table, words = activation_words(o)
    for p, (offset, count) in enumerate(table.tolist()):
        start = p * descriptor["output_row_stride"]
        image.write(descriptor["output_words"] + WORD_BYTES * start, words[offset:offset + count])
        image.write(descriptor["output_table"] + ENTRY_BYTES * p,
                    np.array([start, count], np.uint32))


def test_every_layer_reads_its_input_through_its_descriptor_alone(tmp_path):
    program = compile_workload(DIGITS_WORKLOAD, tmp_path / "p", base=BASE)
    workload = load_workload(DIGITS_WORKLOAD)
    image = MemoryImage(BASE)
    image.allocate("program", program["memory"]["bytes"])
    image.data[:] = (tmp_path / "p" / "memory.bin").read_bytes()
    expected = np.load(tmp_path / "p" / "expected.npz")
    assert [entry["name"] for entry in program["layers"]] == list(expected.files)
    for entry, layer in zip(program["layers"], workload.layers, strict=True):
        d = entry["descriptor"]
        inputs = [(d["input_table"], d["input_words"], layer.input)]
        if layer.type == "add":
            inputs.append((d["input2_table"], d["input2_words"], layer.addend))
        for table, words, golden in inputs:
            area = Area(table, golden.shape[0], words, (image.end - words) // WORD_BYTES)
            assert np.array_equal(read_activation(image, area, golden.shape), golden), layer.name
        assert np.array_equal(expected[layer.name], layer.output)
        assert entry["output"]["shape"] == list(layer.output.shape)
        _write_output(image, d, layer.output)
    # The chain: every layer but the first reads what an earlier layer's descriptor writes.
    outputs = {entry["descriptor"]["output_table"] for entry in program["layers"]}
    assert all(entry["descriptor"]["input_table"] in outputs for entry in program["layers"][1:])


def test_the_program_is_the_same_bytes_every_time(tmp_path):
    for name in ("a", "b"):
        assert main(["compile", str(DIGITS_WORKLOAD), "-o", str(tmp_path / name)]) == 0
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    program = json.loads((tmp_path / "a" / "program.json").read_text())
    assert program["memory"] == {"file": "memory.bin", "base": 0,
                                 "bytes": (tmp_path / "a" / "memory.bin").stat().st_size}


@pytest.mark.parametrize("arguments, message", [
    (["--base", "0x30"], "base must be a multiple of 64, not 0x30"),
    (["--base", "x"], "--base must be an integer byte address (such as 0x80000000), not 'x'"),
    (["--config", "SMALL"], "layer 'average' has filter height R = 4, above 3 (raise max_kernel"),
])
def test_bad_input_is_refused_in_one_line_and_writes_nothing(arguments, message, tmp_path,
                                                             capsys):
    small = tmp_path / "small.toml"
    small.write_text("max_kernel = 3\n")
    arguments = [str(small) if argument == "SMALL" else argument for argument in arguments]
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS_WORKLOAD), "-o", str(out), *arguments]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line
    assert not out.exists()
