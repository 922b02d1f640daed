"""cocotb bench of hw/block.py: random layers laid out in memory by the golden model, run by a
host through the registers under random AXI and AXI-Lite stalls; every output byte, the byte
counters and the error codes checked."""

import cocotb
import numpy as np

from isosceles.golden.isos import isos_streams
from isosceles.golden.layers import residual_add
from isosceles.golden.memory_image import LayerImage, MemoryImage
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.reference import effectual_macs
from isosceles.hw.block import BlockError
from isosceles.tb import checked
from isosceles.tb.block_host import BlockHost
from isosceles.tb.cocotb_core import FIRST, config_of, draw_layer, random_tensors
from isosceles.tb.streams import start_clock_and_reset, tb_context

MEMORY_BYTES = 1 << 20


def first_difference(got, expected):
    """The first ``[p, q, k]`` at which two output tensors differ, and both values."""
    p, q, k = np.argwhere(got != expected)[0]
    return f"[p={p}, q={q}, k={k}]: block {got[p, q, k]}, golden {expected[p, q, k]}"


def run_timeout(image, layer):
    """Cycles within which a run of ``layer`` must end: generous, proportional to its image."""
    return 20_000 + 40 * (len(image.data) // 4) * layer.geometry.R


async def run_placed(host, config, image, layer, expected, effectual, *, while_busy=None,
                     stall_cycles=0):
    """Run a layer laid out in ``image``; check its output against ``expected`` [P, Q, K], its
    byte counters and its MAC counter (``effectual``); the run's counters and golden figures.
    ``while_busy()``, if given, is awaited between the start and the first poll of ``status``;
    ``stall_cycles`` is added to the timeout."""
    g = layer.geometry
    host.ram.write(image.base, bytes(image.data))
    await host.start(layer.descriptor())
    if while_busy is not None:
        await while_busy()
    run = await host.finish(timeout_cycles=run_timeout(image, layer) + stall_cycles)
    assert run["error"] == BlockError.NONE, f"layer {g}: the block ended with {run['error']!r}"
    image.data[:] = host.ram.read(image.base, len(image.data))
    got = layer.read_output(image)
    if not np.array_equal(got, expected):
        raise AssertionError(f"layer {g}: output differs at {first_difference(got, expected)}")
    checked.case("layers")
    checked.tokens("output values", int(expected.size))
    compulsory_read, compulsory_written = layer.compulsory_bytes(image)
    band_read = layer.band_read_bytes(image, config.lanes)
    assert (run["read_bytes"], run["write_bytes"]) == (band_read, compulsory_written), (
        f"layer {g}: counted {run['read_bytes']} bytes read, {run['write_bytes']} written; "
        f"golden {band_read} read ({compulsory_read} compulsory), {compulsory_written} written")
    assert run["macs"] == effectual, f"layer {g}: counted {run['macs']} MACs, golden {effectual}"
    return run, {"compulsory_read": compulsory_read, "band_read": band_read,
                 "written": compulsory_written, "P": g.P}


def conv_layer(config, tensors, *, base=0, maximum=False):
    """The convolution ``tensors`` (as :func:`random_tensors` draws them) laid out at ``base``,
    or with ``maximum`` the max pooling they stand for (kind 2):
    ``(image, layer, expected output, effectual MACs)``, the arguments of :func:`run_placed`."""
    i, f, stride, padding, groups, pou = tensors
    numerics = config.numerics
    image = MemoryImage(base=base)
    if maximum:
        layer = LayerImage.maxpool(image, i, size=(f.shape[1], f.shape[3]), stride=stride,
                                   padding=padding, numerics=numerics)
    else:
        layer = LayerImage.conv(image, i, f, pou, stride=stride, padding=padding, groups=groups,
                                numerics=numerics)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups, numerics=numerics,
                     maximum=maximum)
    return (image, layer, pou_dense(s.accumulations, pou, numerics=numerics),
            effectual_macs(i, f, stride, padding, groups))


async def run_layer(host, config, tensors, *, base=0, maximum=False):
    """Lay out the convolution ``tensors`` (with ``maximum``, the max pooling) at ``base``, run
    it and check it (:func:`run_placed`)."""
    return await run_placed(host, config,
                            *conv_layer(config, tensors, base=base, maximum=maximum))


def random_fc(rng, config):
    """A random fully connected layer ``(x [H, W, C], w [H*W*C, K], pou)`` that the build
    holds (``H*W*C <= max_channels``)."""
    numerics, channels = config.numerics, config.max_channels
    H = int(rng.integers(1, 4))
    W = int(rng.integers(1, min(config.max_columns, channels // H) + 1))
    C = int(rng.integers(1, channels // (H * W) + 1))
    K = int(rng.integers(1, channels + 1))
    act_low, act_high = numerics.act_range
    x = rng.integers(act_low, act_high + 1, (H, W, C)) * (rng.random((H, W, C)) < rng.random())
    w = rng.integers(-128, 128, (H * W * C, K)) * (rng.random((H * W * C, K)) < rng.random())
    pou = PouParams.make(bias=rng.integers(-2000, 2000, K), mult=rng.integers(1, 1 << 12, K),
                         shift=rng.integers(10, 18, K), relu=bool(rng.random() < 0.5),
                         numerics=numerics)
    return x, w, pou


async def run_fc_layer(host, config, x, w, pou, *, base=0):
    """Lay out a fully connected layer at ``base`` (input ``[H, W, C]`` rows, as a convolution
    would read them), run it and check it: the golden model is the 1x1 convolution of the
    flattened input."""
    numerics = config.numerics
    image = MemoryImage(base=base)
    layer = LayerImage.fc(image, x, w, pou, numerics=numerics)
    flat, filters = x.reshape(1, 1, -1), w.reshape(w.shape[0], 1, w.shape[1], 1)
    s = isos_streams(flat, filters, numerics=numerics)
    return await run_placed(host, config, image, layer,
                            pou_dense(s.accumulations, pou, numerics=numerics),
                            effectual_macs(flat, filters))


def random_add(rng, config, *, H=None, density=None):
    """Two random activations ``[H, W, C]`` of one shape that the build holds, a residual add's
    inputs: values over the whole ``act_bits`` range, some of ``b`` the negation of ``a`` (sums
    of zero) and some at full scale with ``a``'s sign (sums that saturate)."""
    low, high = config.numerics.act_range
    shape = (H or int(rng.integers(1, 2 * config.lanes + 2)),
             int(rng.integers(1, config.max_columns + 1)),
             int(rng.integers(1, config.max_channels + 1)))

    def draw():
        chosen = float(rng.choice([0.0, 0.2, 1.0, rng.random()])) if density is None else density
        return rng.integers(low, high + 1, shape) * (rng.random(shape) < chosen)

    a, b = draw(), draw()
    b = np.where(rng.random(shape) < 0.2, -np.clip(a, -high, high), b)
    b = np.where(rng.random(shape) < 0.1, np.sign(a) * high, b)
    return a.astype(np.int64), b.astype(np.int64)


def add_layer(config, a, b, *, base=0):
    """The residual add of ``a`` and ``b`` laid out at ``base``: the arguments of
    :func:`run_placed` (no MACs)."""
    image = MemoryImage(base=base)
    layer = LayerImage.add(image, a, b, numerics=config.numerics)
    return image, layer, residual_add(a, b, numerics=config.numerics), 0


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
        base = 64 * int(rng.integers(0, 64))
        pool = False
        if index >= len(FIRST) and (index - len(FIRST)) % 3 == 0:  # fully connected, every third
            run, figures = await run_fc_layer(host, config, *random_fc(rng, config), base=base)
        elif index >= len(FIRST) and index % 3 == 1:  # and a residual add
            run, figures = await run_placed(host, config, *add_layer(
                config, *random_add(rng, config), base=base))
        else:
            tensors, choice = draw_layer(rng, config, first=first)
            pool = choice["kind"] == "maxpool"
            run, figures = await run_layer(host, config, tensors, base=base, maximum=pool)
        dut._log.info(f"layer {index}{' (max pooling)' if pool else ''}: {run['cycles']} "
                      f"cycles, {run['macs']} MACs, "
                      f"{run['read_bytes']} bytes read ({figures['compulsory_read']} "
                      f"compulsory), {run['write_bytes']} written")


def _set_word(image, address, change):
    """Replace the 32-bit word at ``address`` by ``change(word)``."""
    word = int(image.read(address, 1, np.uint32, "word")[0])
    image.write(address, np.array([change(word)], np.uint32))


def _first_word(image, area, name):
    """Address of the first word of the first nonempty entry of ``area``."""
    table = image.read(area.table, 2 * area.entries, np.uint32, name).reshape(-1, 2)
    offset = next(int(start) for start, count in table if count)
    return area.words + 4 * offset


BAD_DESCRIPTORS = {  # name -> (error, change to the descriptor or to the image)
    "R above max_kernel": (BlockError.SHAPE, lambda d, layer, image, config: d.update(
        R=config.max_kernel + 1)),
    "Q not what W, S, stride and padding give": (BlockError.SHAPE, lambda d, *_: d.update(
        Q=d["Q"] + 1)),
    "K above max_channels": (BlockError.SHAPE, lambda d, layer, image, config: d.update(
        K=config.max_channels + 1)),
    "output_row_stride below Q (K + 1)": (BlockError.SHAPE, lambda d, *_: d.update(
        output_row_stride=d["Q"] * (d["K"] + 1) - 1)),
    "filter_channels not C": (BlockError.SHAPE, lambda d, *_: d.update(
        filter_channels=d["C"] + 1)),
    "misaligned input table": (BlockError.ALIGN, lambda d, *_: d.update(
        input_table=d["input_table"] + 4)),
    "an unknown layer kind (4)": (BlockError.UNSUPPORTED, lambda d, *_: d.update(kind=4)),
    "a max pooling whose K is not C": (BlockError.SHAPE, lambda d, *_: d.update(
        kind=2, groups=d["C"], K=d["C"] - 1 if d["C"] > 1 else 2,
        output_row_stride=d["Q"] * (d["C"] + 2))),
    "filter word with a reserved bit": (BlockError.FILTER_FORMAT, lambda d, layer, image, _:
                                        _set_word(image, _first_word(image, layer.filters,
                                                                     "filters") + 4,
                                                  lambda w: w | 1 << 30)),
    "POU entry with a reserved bit": (BlockError.POU_FORMAT, lambda d, layer, image, _:
                                      _set_word(image, layer.pou + 4, lambda w: w | 1 << 31)),
    "input word with a reserved bit": (BlockError.INPUT_FORMAT, lambda d, layer, image, _:
                                       _set_word(image, _first_word(image, layer.input,
                                                                    "input") + 4,
                                                 lambda w: w | 1 << 29)),
}


@cocotb.test()
async def bad_descriptors_end_with_their_error_code(dut):
    """Each bad descriptor or image ends the run with its code (never a hang), and a good
    layer right after it runs bit-exact."""
    ctx = tb_context()
    config = config_of(ctx.params)
    await start_clock_and_reset(dut)
    host = BlockHost(dut, lanes=config.lanes, memory_bytes=MEMORY_BYTES, stalls=0.2,
                     seed=ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    for name, (error, change) in BAD_DESCRIPTORS.items():
        tensors = random_tensors(rng, config, first=dict(act_density=1.0,
                                                               weight_density=1.0))
        i, f, stride, padding, groups, pou = tensors
        image = MemoryImage()
        layer = LayerImage.conv(image, i, f, pou, stride=stride, padding=padding,
                                groups=groups, numerics=config.numerics)
        descriptor = layer.descriptor()
        change(descriptor, layer, image, config)
        host.ram.write(0, bytes(image.data))
        run = await host.run(descriptor, timeout_cycles=20_000 + 40 * len(image.data))
        assert run["error"] == error, f"{name}: the block ended with {run['error']!r}, not " \
                                      f"{error!r}"
        dut._log.info(f"{name}: {error.name} after {run['cycles']} cycles")
        await run_layer(host, config, tensors, base=1 << 18)


BAD_ADDS = {  # name -> (error, change to a residual add's descriptor or image)
    "an add whose K is not C": (BlockError.SHAPE, lambda d, *_: d.update(K=d["C"] + 1)),
    "an add with P not H": (BlockError.SHAPE, lambda d, *_: d.update(P=d["H"] + 1)),
    "an add with a ReLU": (BlockError.SHAPE, lambda d, *_: d.update(relu=1)),
    "an add with C above max_channels": (BlockError.SHAPE, lambda d, layer, image, config:
                                         d.update(C=config.max_channels + 1,
                                                  K=config.max_channels + 1)),
    "misaligned second input table": (BlockError.ALIGN, lambda d, *_: d.update(
        input2_table=d["input2_table"] + 8)),
    "second input word with a reserved bit": (BlockError.INPUT_FORMAT, lambda d, layer, image, _:
                                              _set_word(image, _first_word(image, layer.input2,
                                                                           "input2") + 4,
                                                        lambda w: w | 1 << 29)),
}


@cocotb.test()
async def residual_adds_from_memory(dut):
    """Residual adds (every seed: a one-row add, sums that all saturate or all cancel, an
    empty operand, then random ones) bit-exact with their byte counters under stalls; each bad
    add descriptor or image ends with its code, a good add right after it."""
    ctx = tb_context()
    config = config_of(ctx.params)
    await start_clock_and_reset(dut)
    host = BlockHost(dut, lanes=config.lanes, memory_bytes=MEMORY_BYTES, stalls=0.3,
                     seed=ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    high = config.numerics.act_range[1]
    full = np.full((config.lanes + 1, config.max_columns, config.max_channels), high, np.int64)
    pairs = [random_add(rng, config, H=1), (full, full), (full, -full),
             (np.zeros_like(full), full)]
    pairs += [random_add(rng, config) for _ in range(ctx.extra.get("layers", 6))]
    for index, (a, b) in enumerate(pairs):
        base = 64 * int(rng.integers(0, 64))
        run, figures = await run_placed(host, config, *add_layer(config, a, b, base=base))
        dut._log.info(f"add {index} {list(a.shape)}: {run['cycles']} cycles, "
                      f"{run['read_bytes']} bytes read, {run['write_bytes']} written")
    for name, (error, change) in BAD_ADDS.items():
        a, b = random_add(rng, config, density=1.0)
        image, layer, _, _ = add_layer(config, a, b)
        descriptor = layer.descriptor()
        change(descriptor, layer, image, config)
        host.ram.write(0, bytes(image.data))
        run = await host.run(descriptor, timeout_cycles=20_000 + 40 * len(image.data))
        assert run["error"] == error, f"{name}: the block ended with {run['error']!r}, not " \
                                      f"{error!r}"
        dut._log.info(f"{name}: {error.name} after {run['cycles']} cycles")
        await run_placed(host, config, *add_layer(config, *random_add(rng, config),
                                                  base=1 << 18))
