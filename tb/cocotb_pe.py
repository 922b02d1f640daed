"""cocotb bench of hw/pe.py: frontend lanes of random sparse layers against the golden T1 streams.

Each layer's filter fibers are loaded through the lane's write ports; then lane after lane
(``config.h`` changes, ``start``) its input stream I goes in and every T1 token that comes out is
checked, in order, against ``isos_streams(...).t1[h]``.
"""

import json

import cocotb
import numpy as np

from isosceles.golden.isos import isos_streams
from isosceles.golden.numerics import Numerics
from isosceles.hw.filter_buffer import fiber_span
from isosceles.hw.pe import FrontendLane
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

CONFIG_FIELDS = ("h", "P", "Q", "S", "stride", "ph", "pw")


def numerics_of(params):
    return Numerics(act_bits=params.get("act_bits", 8), weight_bits=params.get("weight_bits", 8),
                    acc_bits=params.get("acc_bits", 16))


def random_layer(rng, params, extra):
    """A random sparse layer within the lane's maxima: R, S from ``extra["kernels"]``, stride 1
    or 2, random padding and groups, at most ``extra["max_weights"]`` filter weights, densities
    from 0 to 1; with probability ``extra["saturate"]`` the values are large and of one sign, so
    that partial sums saturate; with probability ``extra["maximum"]`` (default 0.3) the layer is
    reduced by the maximum (a max pooling's arithmetic, on any weights and signs)."""
    numerics = numerics_of(params)
    max_kernel, max_channels = params["max_kernel"], params["max_channels"]
    max_columns = min(params["max_columns"], extra.get("max_width", 12))
    kernels = [k for k in extra.get("kernels", (1, 3, 5, 7)) if k <= max_kernel]
    R, S = int(rng.choice(kernels)), int(rng.choice(kernels))
    stride = int(rng.choice(extra.get("strides", (1, 2))))
    ph, pw = (int(rng.integers(0, min(k, max_kernel - 1) + 1)) for k in (R // 2 + 1, S // 2 + 1))
    H = int(rng.integers(max(1, R - 2 * ph), max(R, extra.get("max_height", 8)) + 1))
    W = int(rng.integers(max(1, S - 2 * pw), max(S, max_columns) + 1))
    groups = int(rng.choice([1, 1, 2]))
    Cg = int(rng.integers(1, max_channels // groups + 1))
    Kg = int(rng.integers(1, max_channels // groups + 1))
    # Bound the dense filter size: it sets the filter buffer words and the simulated cycles.
    while Cg * groups * R * Kg * S > extra.get("max_weights", 400):
        if Kg >= Cg:
            Kg -= 1
        else:
            Cg -= 1
    densities = (0.0, 1.0, rng.random(), rng.random())
    act_density, weight_density = rng.choice(densities), rng.choice(densities)
    saturate = rng.random() < extra.get("saturate", 0.3)
    act_low, act_high = numerics.act_range
    weight_low, weight_high = numerics.weight_range
    if saturate:  # one sign and full scale: sums run into the accumulator's limits
        sign = int(rng.choice([-1, 1]))
        i = sign * rng.integers(act_high // 2, act_high + 1, (H, W, Cg * groups))
        f = rng.integers(weight_high // 2, weight_high + 1, (Cg, R, Kg * groups, S))
    else:
        i = rng.integers(act_low, act_high + 1, (H, W, Cg * groups))
        f = rng.integers(weight_low, weight_high + 1, (Cg, R, Kg * groups, S))
    i = i * (rng.random(i.shape) < act_density)
    f = f * (rng.random(f.shape) < weight_density)
    maximum = bool(rng.random() < extra.get("maximum", 0.3))
    return isos_streams(i, f, stride=stride, padding=(ph, pw), groups=groups, numerics=numerics,
                        maximum=maximum)


def useful_products(s, h):
    """Products lane ``h`` must accumulate: input nonzero x weight with valid (h, r) and an
    exact output column in range."""
    g = s.geometry
    valid_r = {r for r in range(g.R)
               if (h + g.ph - r) % g.stride == 0 and 0 <= (h + g.ph - r) // g.stride < g.P}
    count = 0
    for token in s.inputs[h]:
        if token["marker"]:
            continue
        for weight in s.filter_fibers[token["c"]]:
            x = token["w"] + g.pw - weight["s"]
            if weight["r"] in valid_r and x % g.stride == 0 and 0 <= x // g.stride < g.Q:
                count += 1
    return count


def lane_of(params):
    """The lane object of the simulated build (for its filter packing, not elaborated)."""
    return FrontendLane(numerics=numerics_of(params),
                        **{name: value for name, value in params.items()
                           if not name.endswith("_bits")})


async def load_filters(dut, ctx, s, *, bank_aware=True):
    """Write the layer's fibers and pointers through the load ports, one word a cycle."""
    image = lane_of(ctx.params).pack_filters(s.filter_fibers, bank_aware=bank_aware)
    await write_filter_image(dut, ctx, image)
    return image


async def write_filter_image(dut, ctx, image):
    """Write a :class:`~isosceles.hw.filter_buffer.FilterImage` through ``filter_write`` and
    ``pointer_write``, one word a cycle."""
    for address, word in enumerate(image.words):
        fields = {f"{j}.{name}": weight[name] for j, weight in enumerate(word)
                  for name in ("r", "k", "s", "value")}
        dut.filter_write__addr.value = address
        dut.filter_write__data.value = ctx.pack("filter_write__data", fields)
        dut.filter_write__en.value = 1
        await tick(dut)
    dut.filter_write__en.value = 0
    for channel, pointer in enumerate(image.pointers):
        dut.pointer_write__addr.value = channel
        dut.pointer_write__data.value = ctx.pack("pointer_write__data", {
            f"{bound}.{row}": word for bound in ("first", "last")
            for row, word in enumerate(pointer[bound])})
        dut.pointer_write__en.value = 1
        await tick(dut)
    dut.pointer_write__en.value = 0


def read_struct(dut, ctx, port):
    return ctx.unpack(port, int(getattr(dut, port).value))


def describe(s, h):
    g = s.geometry
    return (f"lane h={h} of H={g.H} W={g.W} C={g.C} K={g.K} R={g.R} S={g.S} P={g.P} Q={g.Q} "
            f"stride={g.stride} ph={g.ph} pw={g.pw} groups={g.groups} maximum={s.maximum}")


async def run_lane(dut, ctx, s, h, *, idle, backpressure):
    """One row through the lane; returns the driver, the monitor and the perf counters."""
    g = s.geometry
    dut.config.value = ctx.pack("config", {**{name: (h if name == "h" else getattr(g, name))
                                              for name in CONFIG_FIELDS},
                                           "maximum": int(s.maximum)})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    driver = StreamDriver(dut, "i", ctx, idle=idle)
    monitor = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    sending = cocotb.start_soon(driver.send(s.inputs[h]))
    expected = s.t1[h]
    checked.case("rows")
    got = await monitor.receive(len(expected))
    await sending
    await wait_idle(dut, ctx, timeout=200_000, what="the lane")
    monitor.stop()
    check_tokens(monitor.received, expected, describe(s, h), "T1")
    status = read_struct(dut, ctx, "status")
    assert not status["order_error"], f"{describe(s, h)}: order_error on a well-formed stream"
    perf = read_struct(dut, ctx, "perf")
    assert perf["products"] == useful_products(s, h), (
        f"{describe(s, h)}: {perf['products']} products, expected {useful_products(s, h)}")
    return driver, monitor, perf, got


@cocotb.test()
async def golden_lanes(dut):
    """Random layers, each row checked token by token, with idle inputs and backpressure."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    idle, backpressure = ctx.extra.get("idle", 0.3), ctx.extra.get("backpressure", 0.3)
    saturated = 0
    for layer in range(ctx.extra.get("layers", 6)):
        s = random_layer(rng, ctx.params, ctx.extra)
        bank_aware = bool(rng.integers(0, 2))  # in-order fibers exercise bank conflicts
        dut._log.info(f"layer {layer}: {describe(s, '*')}, bank-aware fibers: {bank_aware}")
        await load_filters(dut, ctx, s, bank_aware=bank_aware)
        low, high = numerics_of(ctx.params).acc_range
        rows = range(s.geometry.H)
        if len(rows) > ctx.extra.get("rows_per_layer", 6):
            rows = sorted(rng.choice(rows, ctx.extra.get("rows_per_layer", 6), replace=False))
        for h in rows:
            await run_lane(dut, ctx, s, int(h), idle=idle, backpressure=backpressure)
            saturated += sum(1 for t in s.t1[h] if t["value"] in (low, high))
    dut._log.info(f"{saturated} partial sums at the accumulator's limits")


@cocotb.test()
async def order_error(dut):
    """A token whose column disagrees with the markers sets status.order_error; start clears it."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    s = random_layer(rng, ctx.params, {**ctx.extra, "saturate": 0.0})
    await load_filters(dut, ctx, s)
    g = s.geometry
    broken = [dict(token) for token in s.inputs[0]]
    broken[0]["w"] = (broken[0]["w"] + 1) % ctx.params["max_columns"]
    dut.config.value = ctx.pack("config", {name: (0 if name == "h" else getattr(g, name))
                                           for name in CONFIG_FIELDS})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    driver = StreamDriver(dut, "i", ctx)
    monitor = StreamMonitor(dut, "o", ctx)
    await driver.send(broken)
    await wait_idle(dut, ctx, timeout=200_000, what="the lane")
    monitor.stop()
    assert read_struct(dut, ctx, "status")["order_error"], "order_error not raised"
    await run_lane(dut, ctx, s, 0, idle=0.0, backpressure=0.0)


def fetch_cycles(s, h, image):
    """Cycles the fiber walk needs for row ``h``: a marker a cycle, and per input the words of
    its fiber that hold the filter rows row ``h`` feeds (one cycle if none)."""
    g = s.geometry
    rows = [r for r in range(g.R) if (h + g.ph - r) % g.stride == 0
            and 0 <= (h + g.ph - r) // g.stride < g.P]

    def words(c):
        return fiber_span(image.pointers[c], min(rows), max(rows))[1] if rows else 0

    return sum(1 if t["marker"] else max(1, words(t["c"])) for t in s.inputs[h])


def paper_density_layer(rng, params, extra):
    """A 'same' convolution with post-ReLU activations and magnitude-pruned weights at the
    requested densities (defaults: 50 % activations, 20 % weights, as ResNet-50 at 81 %)."""
    numerics = numerics_of(params)
    R = extra.get("R", 3)
    C, K = extra.get("C", params["max_channels"]), extra.get("K", params["max_channels"])
    H, W = extra.get("H", 6), extra.get("W", params["max_columns"])
    i = rng.integers(1, 32, (H, W, C)) * (rng.random((H, W, C)) < extra.get("act_density", 0.5))
    weights = rng.normal(0.0, 24.0, (C, R, K, R))
    threshold = np.quantile(np.abs(weights), 1.0 - extra.get("weight_density", 0.2))
    f = np.clip(np.round(weights), *numerics.weight_range).astype(np.int64)
    f = f * (np.abs(weights) > threshold)
    return isos_streams(i, f, stride=1, padding=R // 2, numerics=numerics)


# Cycles from a token entering the lane to its T1 token leaving, with margin: token register,
# decode, update, write-back, the retirement read and the output queue.
PIPELINE_SLACK = 12


@cocotb.test()
async def bench(dut):
    """No stalls, paper-density layers (``extra``: layers, C, K, R, H, W, act_density,
    weight_density, bank_aware). Measures MAC utilisation, cycles per input nonzero and bank
    conflicts, and checks the throughput claim: a row takes no more cycles than the fiber walk
    (a word or a marker a cycle) plus the measured conflict and window stalls, plus draining
    the last ``window + S`` columns after the last input."""
    ctx = tb_context()
    extra, params = ctx.extra, ctx.params
    rng = np.random.default_rng(ctx.seed)
    macs = params["macs_per_pe"]
    window = params.get("window") or max(2, 1 << (params["max_kernel"] - 1).bit_length())
    await start_clock_and_reset(dut)
    totals = dict(rows=0, tokens_in=0, input_nonzeros=0, tokens_out=0, t1_data=0, cycles=0,
                  busy_cycles=0, products=0, fetch_cycles=0, conflict_cycles=0, window_cycles=0,
                  retire_wait_cycles=0)
    latencies = []
    for _ in range(extra.get("layers", 1)):
        s = paper_density_layer(rng, params, extra)
        g = s.geometry
        image = await load_filters(dut, ctx, s, bank_aware=extra.get("bank_aware", True))
        for h in range(g.H):
            driver, monitor, perf, got = await run_lane(dut, ctx, s, h, idle=0.0,
                                                        backpressure=0.0)
            cycles = monitor.last_transfer - driver.first_transfer + 1
            latencies.append(monitor.first_transfer - driver.first_transfer)
            fetch = fetch_cycles(s, h, image)
            drained = sum(1 for t in got if t["q"] >= g.Q - window - g.S)
            bound = (fetch + perf["conflict_cycles"] + perf["window_cycles"] + drained
                     + PIPELINE_SLACK)
            assert cycles <= bound, f"{describe(s, h)}: {cycles} cycles > bound {bound}"
            totals["rows"] += 1
            totals["tokens_in"] += len(s.inputs[h])
            totals["input_nonzeros"] += sum(1 for t in s.inputs[h] if not t["marker"])
            totals["tokens_out"] += len(got)
            totals["t1_data"] += sum(1 for t in got if not t["marker"])
            totals["cycles"] += cycles
            totals["busy_cycles"] += perf["cycles"]
            totals["fetch_cycles"] += fetch
            for name in ("products", "conflict_cycles", "window_cycles", "retire_wait_cycles"):
                totals[name] += perf[name]
    figures = {
        **totals,
        "mac_utilisation": totals["products"] / (totals["cycles"] * macs),
        "fetch_bound_utilisation": totals["products"] / (totals["fetch_cycles"] * macs),
        "cycles_per_input_nonzero": totals["cycles"] / max(1, totals["input_nonzeros"]),
        "conflict_cycle_fraction": totals["conflict_cycles"] / totals["cycles"],
        "window_cycle_fraction": totals["window_cycles"] / totals["cycles"],
        "marker_fraction_out": 1 - totals["t1_data"] / totals["tokens_out"],
        "latency_max": max(latencies),
    }
    dut._log.info(json.dumps(figures))
    if extra.get("bench_out"):
        with open(extra["bench_out"], "w") as file:
            json.dump({"unit": "pe", "params": params,
                       "extra": {k: v for k, v in extra.items() if k != "bench_out"},
                       "cases": [{**figures, "latency": figures["latency_max"],
                                  "note": f"{totals['rows']} rows, paper densities"}],
                       "figures_of_note": {name: figures[name] for name in (
                           "mac_utilisation", "fetch_bound_utilisation",
                           "cycles_per_input_nonzero", "conflict_cycle_fraction",
                           "marker_fraction_out")}}, file, indent=1)
