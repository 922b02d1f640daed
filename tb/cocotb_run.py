"""cocotb module behind ``isosceles run``: every layer of a workload file through the block.

Each layer is laid out in the AXI RAM by the golden memory image (``docs/memory.md``), its
descriptor loaded through the AXI-Lite registers, and the block run; a layer that reads an
earlier one reads the rows the block wrote for it, in place. The output tensor read back
from memory and the block's counters go, per layer, to the file ``extra["result"]``, one JSON
line per network input as it finishes; ``isosceles.gen.run`` checks them against the golden
model. The inputs are the workload's own, or the images of the ``.npy`` file ``extra["inputs"]``.
"""

import json
import time

import cocotb
import numpy as np

from isosceles.golden.memory_image import ENTRY_BYTES, WORD_BYTES, MemoryImage
from isosceles.golden.workload_file import load_workload
from isosceles.tb.block_host import BlockHost
from isosceles.tb.cocotb_core import config_of
from isosceles.tb.streams import start_clock_and_reset, tb_context

MEMORY_BYTES = 1 << 24


def _area_bytes(image, area, what):
    """Bytes of a table and the words its entries cover (what a compulsory read of it costs)."""
    entries = image.read(area.table, 2 * area.entries, np.uint32, what).reshape(-1, 2)
    return ENTRY_BYTES * area.entries + WORD_BYTES * int(entries[:, 1].sum())


@cocotb.test()
async def run_workload(dut):
    ctx = tb_context()
    config = config_of(ctx.params)
    inputs = ctx.extra.get("inputs")
    images = [None] if inputs is None else np.load(inputs)
    await start_clock_and_reset(dut)
    host = BlockHost(dut, lanes=config.lanes, memory_bytes=MEMORY_BYTES,
                     stalls=ctx.extra.get("stalls", 0.0), seed=ctx.seed)
    with open(ctx.extra["result"], "w") as file:
        for number, image in enumerate(images, 1):
            workload = load_workload(ctx.extra["workload"], numerics=config.numerics, input=image)
            memory = MemoryImage()
            program = workload.layout(memory, numerics=config.numerics)
            if memory.end > MEMORY_BYTES:
                raise ValueError(f"the workload needs {memory.end} bytes of memory; the bench's "
                                 f"AXI RAM has {MEMORY_BYTES}")
            host.ram.write(0, bytes(memory.data))
            results = []
            for layer, placed in zip(workload.layers, program, strict=True):
                results.append(await _run_layer(dut, host, config, layer, placed, memory))
                if results[-1]["error"] != "NONE":
                    break  # the layers after it would read an output never written
            print(json.dumps(results), file=file, flush=True)
            dut._log.info(f"input {number}/{len(images)}: "
                          f"{sum(result['cycles'] for result in results)} cycles")


async def _run_layer(dut, host, config, layer, placed, image):
    """Run one layer laid out in memory (``placed``, in ``image``) and read it back: its output
    and counters; ``image`` is refreshed from the RAM."""
    started = time.monotonic()
    run = await host.run(placed.descriptor(),
                         timeout_cycles=20_000 + 40 * placed.geometry.R * len(image.data))
    run["sim_seconds"] = time.monotonic() - started
    image.data[:] = host.ram.read(0, len(image.data))
    result = {"name": layer.name, "error": run.pop("error").name, **run,
              "row_tables": {name: area.table for name, area in (
                  ("input", placed.input), ("input2", placed.input2), ("output", placed.output))
                  if area is not None}}
    if result["error"] == "NONE":
        result["output"] = placed.read_output(image).tolist()
        result["compulsory_read"], result["compulsory_written"] = placed.compulsory_bytes(image)
        result["band_read"] = placed.band_read_bytes(image, config.lanes)
        if placed.kind == "add":  # two inputs, no filters, no POU table
            result["input_bytes"] = (_area_bytes(image, placed.input, "input table")
                                     + _area_bytes(image, placed.input2, "input2 table"))
            result["filter_bytes"] = result["pou_bytes"] = 0
        else:
            result["input_bytes"] = _area_bytes(image, placed.input, "input table")
            result["filter_bytes"] = _area_bytes(image, placed.filters, "filter table")
            result["pou_bytes"] = ENTRY_BYTES * placed.geometry.K
    dut._log.info(f"layer {layer.name}: {run['cycles']} cycles, {result['error']}")
    return result
