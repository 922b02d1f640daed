"""cocotb bench of hw/pou.py: golden K-merger streams in, golden O streams out, token by token.

The parameter table is loaded through the POU's write port (in a random order); the K-merger
lane streams of consecutive output rows of a layer then go in back to back, and every O token is
checked, in order, against ``isos_streams(..., pou=...).outputs``. ``arithmetic_sweep`` drives
crafted columns at the extremes of every width and checks them against ``requantize``.
"""

import itertools
import json

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.golden import isos_streams
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams, pou_stream
from isosceles.hw.pou import LATENCY
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
    tick,
    wait_idle,
)


def numerics_of(params):
    return Numerics(**{name: value for name, value in params.items() if name.endswith("_bits")})


async def load(dut, ctx, pou, rng=None):
    """Write the table entries of ``pou`` (in a random order when ``rng`` is given) and set
    ``config``; the stream may start in the next cycle."""
    K = len(pou.bias)
    await write_params(dut, ctx, pou, rng.permutation(K) if rng is not None else range(K))
    dut.config.value = ctx.pack("config", {"K": K, "relu": int(pou.relu)})


async def write_params(dut, ctx, pou, order):
    """Write the table entries of ``pou`` through ``param_write`` in ``order``, one a cycle."""
    for k in order:
        k = int(k)
        dut.param_write__addr.value = k
        dut.param_write__data.value = ctx.pack("param_write__data", {
            "bias": pou.bias[k], "mult": pou.mult[k], "shift": pou.shift[k]})
        dut.param_write__en.value = 1
        await tick(dut)
    dut.param_write__en.value = 0


async def run_stream(dut, ctx, tokens, expected, what, *, idle, backpressure):
    """Send ``tokens`` on ``i``, check ``o`` against ``expected``; returns (driver, monitor).
    The driver's and the monitor's cycle counts start in the cycle the first token is
    offered."""
    monitor = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    driver = StreamDriver(dut, "i", ctx, idle=idle)
    sending = cocotb.start_soon(driver.send(tokens))
    await monitor.receive(len(expected))
    for _ in range(10 * len(tokens) + 100):
        if sending.done():
            break
        await tick(dut)
    assert sending.done(), f"{what}: input stalled after {driver.sent} of {len(tokens)} tokens"
    await wait_idle(dut, ctx, timeout=10_000, what="the POU")
    await tick(dut, 2)  # nothing more may come out
    monitor.stop()
    check_tokens(monitor.received, expected, what, "O")
    return driver, monitor


def data_positions(stream):
    """``(column, k)`` of every data token, columns counted by markers (rows back to back
    repeat ``q``)."""
    positions, column = set(), 0
    for token in stream:
        if token["marker"]:
            column += 1
        else:
            positions.add((column, token["k"]))
    return positions


class Coverage:
    """What the golden streams exercised: fill tokens, drops, saturation both ways, ReLU."""

    def __init__(self, numerics):
        self.low, self.high = numerics.act_range
        self.counts = dict.fromkeys(("fill", "dropped", "saturated_high", "saturated_low",
                                     "relu_on", "relu_off", "data_in", "data_out"), 0)

    def add(self, stream_in, stream_out, relu):
        self.counts["relu_on" if relu else "relu_off"] += 1
        present, kept = data_positions(stream_in), data_positions(stream_out)
        self.counts["data_in"] += len(present)
        self.counts["data_out"] += len(kept)
        self.counts["fill"] += len(kept - present)
        self.counts["dropped"] += len(present - kept)
        values = [t["value"] for t in stream_out if not t["marker"]]
        self.counts["saturated_high"] += values.count(self.high)
        self.counts["saturated_low"] += values.count(self.low)

    def complete(self):
        return all(self.counts.values())


def random_layer(rng, numerics, *, max_channels, max_columns):
    """A random sparse layer: R, S 1..7, stride 1..3, padding, densities 0..1, K up to
    ``max_channels`` (often all of it); sometimes large one-sign values so that sums
    saturate."""
    while True:
        R, S = (int(v) for v in rng.integers(1, 8, 2))
        stride = int(rng.choice([1, 1, 2, 3]))
        ph, pw = int(rng.integers(0, R // 2 + 1)), int(rng.integers(0, S // 2 + 1))
        H = int(rng.integers(max(1, R - 2 * ph), R + 6))
        W = int(rng.integers(max(1, S - 2 * pw), max(S, min(max_columns, 14)) + 1))
        if (W + 2 * pw - S) // stride + 1 <= max_columns:
            break
    C = int(rng.integers(1, 4))
    K = max_channels if rng.random() < 0.25 else int(rng.integers(1, min(max_channels, 24) + 1))
    act_low, act_high = numerics.act_range
    weight_low, weight_high = numerics.weight_range
    if rng.random() < 0.25:
        sign = int(rng.choice([-1, 1]))
        i = sign * rng.integers(act_high // 2, act_high + 1, (H, W, C))
        f = rng.integers(weight_high // 2, weight_high + 1, (C, R, K, S))
    else:
        i = rng.integers(act_low, act_high + 1, (H, W, C))
        f = rng.integers(weight_low, weight_high + 1, (C, R, K, S))
    densities = (0.0, 1.0, *rng.random(4))
    i = i * (rng.random(i.shape) < rng.choice(densities))
    f = f * (rng.random(f.shape) < rng.choice(densities))
    return i, f, dict(stride=stride, padding=(ph, pw))


def random_pou(rng, numerics, scale, *, relu):
    """Random parameters for channels whose accumulations reach ``scale[k]``: each channel is
    scaled to the activation range, a fill channel (large bias of either sign), an extreme
    (bias, mult, shift at their limits, mult 0) or saturating (mult max, shift 0)."""
    bias_low, bias_high = numerics.bias_range
    mult_high, shift_high = numerics.mult_range[1], numerics.shift_range[1]
    bias, mult, shift = [], [], []
    for k in range(len(scale)):
        reach = int(min(scale[k], bias_high))
        regime = rng.choice(["scaled", "scaled", "fill", "extreme", "saturating"])
        if regime == "extreme":
            b = int(rng.choice([bias_low, 0, bias_high]))
            m = int(rng.choice([0, 1, mult_high]))
            s = int(rng.choice([0, shift_high]))
        elif regime == "fill":
            magnitude = int(rng.integers(max(1, bias_high // 4), bias_high + 1))
            b = magnitude if rng.random() < 0.6 else -magnitude
            m = int(rng.integers(1, mult_high + 1))
            s = (abs(b) * m).bit_length() - int(rng.integers(1, numerics.act_bits + 2))
        else:
            b = int(rng.integers(-reach, reach + 1))
            m = mult_high if regime == "saturating" else int(rng.integers(1, mult_high + 1))
            s = 0 if regime == "saturating" else (
                ((int(scale[k]) + abs(b)) * m).bit_length() - numerics.act_bits
                + int(rng.integers(-1, 3)))
        bias.append(b)
        mult.append(m)
        shift.append(min(max(s, 0), shift_high))
    return PouParams.make(bias, mult, shift, relu=relu, numerics=numerics)


def row_streams(s, rows):
    """The K-merger streams and the golden O streams of ``rows``, back to back."""
    stream_in = [token for p in rows for token in s.kmerger_out[p]]
    stream_out = [token for p in rows for token in s.outputs[p]]
    return stream_in, stream_out


@cocotb.test()
async def golden_layers(dut):
    """Random layers and POU parameters, consecutive rows back to back, every O token checked
    in order under idle inputs and backpressure; each table is also run with ReLU flipped
    without reloading. Runs until fill tokens, drops, saturation at both limits and both ReLU
    settings have all been seen (at least ``layers`` layers)."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    numerics = numerics_of(ctx.params)
    max_channels, max_columns = ctx.params["max_channels"], ctx.params["max_columns"]
    idle, backpressure = ctx.extra.get("idle", 0.3), ctx.extra.get("backpressure", 0.3)
    least, rows_per_layer = ctx.extra.get("layers", 8), ctx.extra.get("rows_per_layer", 3)
    coverage = Coverage(numerics)
    await start_clock_and_reset(dut)
    layer = 0
    while layer < least or not coverage.complete():
        assert layer < 3 * least, f"coverage incomplete after {layer} layers: {coverage.counts}"
        i, f, conv = random_layer(rng, numerics, max_channels=max_channels,
                                  max_columns=max_columns)
        plain = isos_streams(i, f, numerics=numerics, **conv)
        scale = np.maximum(np.abs(plain.accumulations).max(axis=(0, 1)), 1)
        relu = bool(layer % 2)
        pou = random_pou(rng, numerics, scale, relu=relu)
        g = plain.geometry
        first = int(rng.integers(0, max(0, g.P - rows_per_layer) + 1))
        rows = range(first, min(g.P, first + rows_per_layer))
        await load(dut, ctx, pou, rng)
        for run_relu in (relu, not relu)[:1 + int(rng.integers(0, 2))]:
            if run_relu != pou.relu:
                pou = PouParams.make(pou.bias, pou.mult, pou.shift, relu=run_relu,
                                     numerics=numerics)
                dut.config.value = ctx.pack("config", {"K": g.K, "relu": int(run_relu)})
            s = isos_streams(i, f, numerics=numerics, pou=pou, **conv)
            stream_in, expected = row_streams(s, rows)
            what = (f"layer {layer} (R={g.R} S={g.S} stride={g.stride} K={g.K} Q={g.Q} "
                    f"rows {list(rows)}, relu={run_relu}, bias={pou.bias} mult={pou.mult} "
                    f"shift={pou.shift})")
            dut._log.info(f"layer {layer}: R={g.R} S={g.S} K={g.K} Q={g.Q} rows {list(rows)} "
                          f"relu={run_relu}: {len(stream_in)} tokens in, {len(expected)} out")
            await run_stream(dut, ctx, stream_in, expected, what, idle=idle,
                             backpressure=backpressure)
            checked.case("rows", len(rows))
            coverage.add(stream_in, expected, run_relu)
        layer += 1
    dut._log.info(f"{layer} layers; coverage {coverage.counts}")


def sweep_tables(numerics, max_channels):
    """Parameter tables of at most ``max_channels`` entries covering every (bias, mult, shift)
    with bias and mult at and next to their limits and every shift."""
    bias_low, bias_high = numerics.bias_range
    mult_high, shift_high = numerics.mult_range[1], numerics.shift_range[1]
    biases = sorted({bias_low, bias_low + 1, -1, 0, 1, bias_high - 1, bias_high})
    mults = sorted({0, 1, max(0, mult_high - 1), mult_high})
    combos = list(itertools.product(biases, mults, range(shift_high + 1)))
    for first in range(0, len(combos), max_channels):
        yield [list(column) for column in zip(*combos[first:first + max_channels], strict=True)]


def sweep_stream(rng, numerics, K):
    """Columns of every channel at acc min, min + 1, -1, 1, max - 1, max, two random columns,
    then an empty column (where only fill channels speak)."""
    acc_low, acc_high = numerics.acc_range
    columns = [[x] * K for x in (acc_low, acc_low + 1, -1, 1, acc_high - 1, acc_high)]
    for _ in range(2):
        values = rng.integers(acc_low, acc_high, K, endpoint=True)
        columns.append([int(v) or 1 for v in values])
    columns.append([])
    tokens = []
    for q, values in enumerate(columns):
        tokens += [{"q": q, "k": k, "value": v, "marker": 0, "last": 0}
                   for k, v in enumerate(values)]
        tokens.append({"q": q, "k": 0, "value": 0, "marker": 1, "last": int(q == len(columns) - 1)})
    return tokens


def handled_tokens(stream_in, expected):
    """Tokens the POU must issue for a stream: every input token and every fill token."""
    return len(stream_in) + len(data_positions(expected) - data_positions(stream_in))


@cocotb.test()
async def arithmetic_sweep(dut):
    """Every shift with bias and mult at their limits against accumulations at theirs, ReLU on
    and off, checked against ``requantize`` through ``pou_stream``: under stalls, then without
    them, where a run must take exactly one cycle per input and fill token plus the latency
    (a fill channel whose result ReLU zeroes must cost no cycle)."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    numerics = numerics_of(ctx.params)
    coverage = Coverage(numerics)
    await start_clock_and_reset(dut)
    for index, (bias, mult, shift) in enumerate(sweep_tables(numerics,
                                                             ctx.params["max_channels"])):
        pou = PouParams.make(bias, mult, shift, relu=False, numerics=numerics)
        await load(dut, ctx, pou)
        tokens = sweep_stream(rng, numerics, len(bias))
        for relu, stalls in itertools.product((False, True), (0.1, 0.0)):
            pou = PouParams.make(bias, mult, shift, relu=relu, numerics=numerics)
            dut.config.value = ctx.pack("config", {"K": len(bias), "relu": int(relu)})
            expected = pou_stream(tokens, pou, numerics=numerics)
            what = f"sweep table {index} relu={relu} bias={bias} mult={mult} shift={shift}"
            _, monitor = await run_stream(dut, ctx, tokens, expected, what, idle=stalls,
                                               backpressure=stalls)
            if not stalls:
                cycles = monitor.last_transfer + 1
                handled = handled_tokens(tokens, expected)
                assert cycles == handled + LATENCY, (
                    f"{what}: {cycles} cycles for {handled} input and fill tokens, latency "
                    f"{LATENCY}")
            coverage.add(tokens, expected, relu)
    dut._log.info(f"sweep coverage {coverage.counts}")
    assert coverage.complete(), coverage.counts


def bench_layers(rng, numerics, max_channels, max_columns):
    """(name, layer, POU parameters) of the benchmark: dense with no output dropped, all
    channels filling an empty layer, half of them filling it with ReLU on (the negative half
    must cost nothing), and a sparse layer (30 % activations, 50 % weights, K 64) with random
    parameters."""
    act_high, bias_high = numerics.act_range[1], numerics.bias_range[1]
    K = min(max_channels, 32)
    dense = (rng.integers(1, act_high + 1, (4, 12, 3)),
             rng.integers(1, numerics.weight_range[1] + 1, (3, 3, K, 3)), dict(padding=1))
    keep_all = PouParams.make([0] * K, [1] * K, [0] * K, relu=False, numerics=numerics)
    empty = (np.zeros((4, 12, 3), dtype=int), dense[1], dict(padding=1))
    fill = min(bias_high, act_high)
    fill_all = PouParams.make([fill] * K, [1] * K, [0] * K, relu=True, numerics=numerics)
    fill_half = PouParams.make([fill * (-1) ** k for k in range(K)], [1] * K, [0] * K,
                               relu=True, numerics=numerics)
    K = min(max_channels, 64)
    i = rng.integers(*numerics.act_range, (6, 16, 4), endpoint=True)
    i = i * (rng.random(i.shape) < 0.3)
    f = rng.integers(*numerics.weight_range, (4, 3, K, 3), endpoint=True)
    f = f * (rng.random(f.shape) < 0.5)
    sparse_layer = (i, f, dict(padding=1))
    scale = np.maximum(np.abs(isos_streams(i, f, numerics=numerics, padding=1)
                              .accumulations).max(axis=(0, 1)), 1)
    sparse = random_pou(rng, numerics, scale, relu=True)
    return [("dense", dense, keep_all), ("fill", empty, fill_all),
            ("fill_relu", empty, fill_half), ("sparse", sparse_layer, sparse)]


@cocotb.test()
async def write_while_output_stalls(dut):
    """A parameter written while ``o`` is stalled still sets its channel's fill flags: the
    next layer's empty column emits the new fill token."""
    ctx = tb_context()
    numerics = numerics_of(ctx.params)
    await start_clock_and_reset(dut)
    K = min(4, ctx.params["max_channels"])
    old = PouParams.make([0] * K, [1] * K, [0] * K, relu=False, numerics=numerics)
    await load(dut, ctx, old)
    first = [{"q": 0, "k": 0, "value": 3, "marker": 0, "last": 0},
             {"q": 0, "k": 0, "value": 0, "marker": 1, "last": 1}]
    stalled = StreamMonitor(dut, "o", ctx, backpressure=1.0)
    await StreamDriver(dut, "i", ctx).send(first)
    await tick(dut, LATENCY + 2)
    await ReadOnly()
    assert int(dut.o__valid.value), "the first token should be waiting on the stalled output"
    await RisingEdge(dut.clk)
    new = PouParams.make([0] * (K - 1) + [3], [1] * K, [0] * K, relu=False, numerics=numerics)
    dut.param_write__addr.value = K - 1
    dut.param_write__data.value = ctx.pack("param_write__data", {"bias": 3, "mult": 1,
                                                                 "shift": 0})
    dut.param_write__en.value = 1
    await tick(dut)
    dut.param_write__en.value = 0
    stalled.stop()
    drained = StreamMonitor(dut, "o", ctx)
    await drained.receive(len(first))
    drained.stop()
    check_tokens(drained.received, pou_stream(first, old, numerics=numerics), "stalled layer",
                 "O")
    empty = [{"q": 0, "k": 0, "value": 0, "marker": 1, "last": 1}]
    expected = pou_stream(empty, new, numerics=numerics)
    assert expected[0] == {"q": 0, "k": K - 1, "value": 3, "marker": 0, "last": 0}
    await run_stream(dut, ctx, empty, expected, "after the stalled write", idle=0.0,
                     backpressure=0.0)


@cocotb.test()
async def bench(dut):
    """No stalls: the POU must handle one token (input or fill) per cycle once the pipeline is
    full, and a token's result must leave ``Pou.latency`` cycles after it arrives."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    numerics = numerics_of(ctx.params)
    await start_clock_and_reset(dut)
    # Latency: one empty column, whose marker comes straight through.
    marker = [{"q": 0, "k": 0, "value": 0, "marker": 1, "last": 1}]
    await load(dut, ctx, PouParams.make([0], [0], [0], numerics=numerics))
    driver, monitor = await run_stream(dut, ctx, marker, marker, "latency", idle=0.0,
                                       backpressure=0.0)
    latency = monitor.first_transfer - driver.first_transfer
    assert latency == LATENCY, f"latency {latency}, documented {LATENCY}"
    figures = []
    for name, (i, f, conv), pou in bench_layers(rng, numerics, ctx.params["max_channels"],
                                                ctx.params["max_columns"]):
        s = isos_streams(i, f, numerics=numerics, pou=pou, **conv)
        stream_in, expected = row_streams(s, range(s.geometry.P))
        await load(dut, ctx, pou)
        # The probes of the writes have finished.
        await wait_idle(dut, ctx, timeout=10_000, what="the POU")
        _, monitor = await run_stream(dut, ctx, stream_in, expected, f"bench {name}",
                                           idle=0.0, backpressure=0.0)
        coverage = Coverage(numerics)
        coverage.add(stream_in, expected, pou.relu)
        handled = handled_tokens(stream_in, expected)
        cycles = monitor.last_transfer + 1
        assert cycles == handled + LATENCY, (
            f"bench {name}: {cycles} cycles for {handled} tokens (in + fill), latency {LATENCY}")
        if name == "dense":
            assert coverage.counts["dropped"] == 0 and cycles == len(expected) + LATENCY
        figures.append({"case": name, "K": s.geometry.K, "Q": s.geometry.Q,
                        "rows": s.geometry.P, "tokens_in": len(stream_in),
                        "tokens_out": len(expected), "fill_tokens": coverage.counts["fill"],
                        "dropped": coverage.counts["dropped"], "cycles": cycles,
                        "latency": latency,
                        "cycles_per_token_out": round(cycles / len(expected), 4),
                        "cycles_per_token_handled": round((cycles - latency) / handled, 4)})
        dut._log.info(f"bench {figures[-1]}")
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "pou", "params": ctx.params, "cases": figures}, file)
