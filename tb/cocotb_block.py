"""cocotb bench of hw/block.py: random layers laid out in memory by the golden model, run by a
host through the registers under random AXI and AXI-Lite stalls; every output byte, the byte
counters and the error codes checked."""

import cocotb
import numpy as np

from isosceles.golden.isos import isos_streams
from isosceles.golden.memory_image import LayerImage, MemoryImage
from isosceles.golden.pou import pou_dense
from isosceles.golden.reference import effectual_macs
from isosceles.hw.block import BlockError
from isosceles.tb.block_host import BlockHost
from isosceles.tb.cocotb_core import FIRST, config_of, random_layer_tensors
from isosceles.tb.streams import start_clock_and_reset, tb_context

MEMORY_BYTES = 1 << 20


def first_difference(got, expected):
    """The first ``[p, q, k]`` at which two output tensors differ, and both values."""
    p, q, k = np.argwhere(got != expected)[0]
    return f"[p={p}, q={q}, k={k}]: block {got[p, q, k]}, golden {expected[p, q, k]}"


async def run_layer(host, config, tensors, *, base=0):
    """Lay out one layer at ``base``, run it, check the output and the byte counters; the run's
    counters and the golden figures."""
    i, f, stride, padding, groups, pou = tensors
    numerics = config.numerics
    image = MemoryImage(base=base)
    layer = LayerImage.conv(image, i, f, pou, stride=stride, padding=padding, groups=groups,
                            numerics=numerics)
    g = layer.geometry
    host.ram.write(base, bytes(image.data))
    words = len(image.data) // 4
    run = await host.run(layer.descriptor(), timeout_cycles=20_000 + 40 * words * g.R)
    assert run["error"] == BlockError.NONE, f"layer {g}: the block ended with {run['error']!r}"
    image.data[:] = host.ram.read(base, len(image.data))
    got = layer.read_output(image)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups, numerics=numerics)
    expected = pou_dense(s.accumulations, pou, numerics=numerics)
    if not np.array_equal(got, expected):
        raise AssertionError(f"layer {g}: output differs at {first_difference(got, expected)}")
    compulsory_read, compulsory_written = layer.compulsory_bytes(image)
    band_read = layer.band_read_bytes(image, config.lanes)
    assert (run["read_bytes"], run["write_bytes"]) == (band_read, compulsory_written), (
        f"layer {g}: counted {run['read_bytes']} bytes read, {run['write_bytes']} written; "
        f"golden {band_read} read ({compulsory_read} compulsory), {compulsory_written} written")
    effectual = effectual_macs(i, f, stride, padding, groups)
    assert run["macs"] == effectual, f"layer {g}: counted {run['macs']} MACs, golden {effectual}"
    return run, {"compulsory_read": compulsory_read, "band_read": band_read,
                 "written": compulsory_written, "P": g.P}


@cocotb.test()
async def golden_layers_from_memory(dut):
    ctx = tb_context()
    config = config_of(ctx.params)
    await start_clock_and_reset(dut)
    stalls = ctx.extra.get("stalls", 0.3)
    host = BlockHost(dut, lanes=config.lanes, memory_bytes=MEMORY_BYTES, stalls=stalls,
                     seed=ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    for index in range(ctx.extra.get("layers", 8)):
        first = FIRST[index] if index < len(FIRST) else None
        tensors = random_layer_tensors(rng, config, first=first)
        base = 64 * int(rng.integers(0, 64))
        run, figures = await run_layer(host, config, tensors, base=base)
        dut._log.info(f"layer {index}: {run['cycles']} cycles, {run['macs']} MACs, "
                      f"{run['read_bytes']} bytes read ({figures['compulsory_read']} "
                      f"compulsory), {run['write_bytes']} written")
