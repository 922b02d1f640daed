"""cocotb bench of hw/core.py: random layers, band after band, every output token of every row
checked against the golden model, with a deadlock watchdog."""


import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.bands import bands
from isosceles.golden.isos import filter_fibers, isos_streams, max_pool_operands
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams
from isosceles.hw.filter_buffer import storage_words
from isosceles.hw.pe import lane_filter_words
from isosceles.tb import checked
from isosceles.tb.cocotb_pe import write_filter_image
from isosceles.tb.cocotb_pou import write_params
from isosceles.tb.coverage import Coverage
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
    tick,
)


def config_of(params):
    """The configuration of a build from its JSON parameters: the fields of
    :class:`IsoscelesConfig`, with ``numerics`` a dict of :class:`Numerics` fields."""
    fields = dict(params)
    return IsoscelesConfig(numerics=Numerics(**fields.pop("numerics", {})), **fields)


def random_layer(rng, config, *, first=None):
    """A random layer: its streams (:func:`~isosceles.golden.isos.isos_streams`), its POU
    parameters and the choices drawn (:func:`draw_layer`)."""
    (i, f, stride, padding, groups, pou), choice = draw_layer(rng, config, first=first)
    return isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                        numerics=config.numerics, pou=pou,
                        maximum=choice["kind"] == "maxpool"), pou, choice


def random_tensors(rng, config, *, first=None):
    """The tensors of a random layer: ``(i, f, stride, padding, groups, pou)``."""
    return draw_layer(rng, config, first=first)[0]


def draw_layer(rng, config, *, first=None):
    """A random layer within the build's maxima: conv, grouped, depthwise, max pooling (unit
    weights, the identity POU, an input with no negative value; ``kind`` ``"maxpool"``, to run
    reduced by the maximum) or fully connected (a 1x1 convolution of a 1x1 image), R != S,
    stride 1 to 3, padding, densities 0 to 1, random POU parameters with some fill channels;
    ``first`` (a dict of fixed choices) overrides the draw. Returns ``((i, f, stride, padding,
    groups, pou), choice)``: the tensors and the choices drawn, with ``zero_input`` and
    ``zero_weights`` telling whether every activation or weight is zero.
    """
    numerics, kernel = config.numerics, config.max_kernel
    kinds = ["conv", "conv", "grouped", "depthwise", "maxpool"] + ([] if first else ["fc"])
    choice = dict(
        R=int(rng.integers(1, kernel + 1)), S=int(rng.integers(1, kernel + 1)),
        stride=int(rng.integers(1, 4)), kind=str(rng.choice(kinds)),
        act_density=float(rng.choice([0.0, 0.3, 1.0, rng.random()])),
        weight_density=float(rng.choice([0.0, 0.2, 1.0, rng.random()], p=[0.1, 0.3, 0.3, 0.3])))
    choice.update(first or {})
    if choice["kind"] == "fc":
        choice.update(R=1, S=1, stride=1, H=1, W=1)
    R, S, stride = choice["R"], choice["S"], choice["stride"]
    ph, pw = choice.get("ph", int(rng.integers(0, R))), choice.get("pw", int(rng.integers(0, S)))
    pool = choice["kind"] == "maxpool"
    groups = {"conv": 1, "fc": 1, "grouped": 2, "depthwise": int(rng.integers(2, 5)),
              "maxpool": int(rng.integers(1, config.max_channels + 1))}[choice["kind"]]
    one = choice["kind"] in ("depthwise", "maxpool")
    Cg = 1 if one else int(rng.integers(1, config.max_channels // groups + 1))
    Kg = 1 if one else int(rng.integers(1, config.max_channels // groups + 1))
    Cg, Kg = choice.get("Cg", Cg), choice.get("Kg", Kg)
    H = choice.get("H", int(rng.integers(max(1, R - 2 * ph), 9)))
    W = choice.get("W", int(rng.integers(max(1, S - 2 * pw), config.max_columns + 1)))
    while (W + 2 * pw - S) // stride + 1 > config.max_columns:  # Q must fit the build too
        pw -= 1
    act_low, act_high = numerics.act_range
    i = rng.integers(0 if pool else act_low, act_high + 1, (H, W, Cg * groups))
    i *= rng.random(i.shape) < choice["act_density"]
    if pool:
        f, pou = max_pool_operands(groups, R, S, numerics)
        choice.update(zero_input=not i.any(), zero_weights=False)
        return (i, f, stride, (ph, pw), groups, pou), choice
    # The filters must fit the build's filter buffer (the block's FilterLoader stops with
    # OVERFLOW otherwise): fewer output channels until they do, unless Kg was chosen.
    capacity = lane_filter_words(config)
    while True:
        f = rng.integers(-128, 128, (Cg, R, Kg * groups, S))
        f *= rng.random(f.shape) < choice["weight_density"]
        needed = storage_words(filter_fibers(f, groups), config.macs_per_pe)
        if needed <= capacity or Kg == 1 or "Kg" in choice:
            break
        Kg //= 2
    K = Kg * groups
    pou = PouParams.make(
        bias=rng.integers(-2000, 2000, K) * (rng.random(K) < 0.7),
        mult=rng.integers(1, 1 << 12, K), shift=rng.integers(10, 18, K),
        relu=bool(rng.random() < 0.5), numerics=numerics)
    choice.update(zero_input=not i.any(), zero_weights=not f.any())
    return (i, f, stride, (ph, pw), groups, pou), choice


async def load_layer(dut, ctx, image, pou):
    """Filters (a :class:`~isosceles.hw.filter_buffer.FilterImage`) and POU parameters through
    the load ports, one word a cycle."""
    await write_filter_image(dut, ctx, image)
    await write_params(dut, ctx, pou, range(len(pou.bias)))


class Watchdog:
    """Fails the run when no stream of the core moves for ``limit`` cycles, naming the state of
    every lane's input and output stream."""

    def __init__(self, dut, ctx, lanes, limit):
        self._dut, self._ctx, self._lanes, self._limit = dut, ctx, lanes, limit
        self._task = cocotb.start_soon(self._watch())

    def _moves(self):
        dut = self._dut
        return [int(getattr(dut, f"{side}__{n}__valid").value)
                & int(getattr(dut, f"{side}__{n}__ready").value)
                for side in ("i", "o") for n in range(self._lanes)]

    def _state(self):
        dut = self._dut
        return "; ".join(
            f"lane {n}: i valid={int(getattr(dut, f'i__{n}__valid').value)} "
            f"ready={int(getattr(dut, f'i__{n}__ready').value)}, o valid="
            f"{int(getattr(dut, f'o__{n}__valid').value)} "
            f"ready={int(getattr(dut, f'o__{n}__ready').value)}"
            for n in range(self._lanes))

    async def _watch(self):
        quiet = 0
        while True:
            await ReadOnly()
            quiet = 0 if any(self._moves()) else quiet + 1
            if quiet >= self._limit:
                status = self._ctx.unpack("status", int(self._dut.status.value))
                raise AssertionError(f"deadlock: no stream moved for {self._limit} cycles "
                                     f"(status {status}; {self._state()})")
            await RisingEdge(self._dut.clk)

    def check(self):
        if self._task.done():
            self._task.result()

    def stop(self):
        self.check()
        self._task.cancel()


async def run_layer(dut, ctx, config, s, pou, *, idle, backpressure, handshakes=None):
    """Every band of one layer (loaded first); returns (cycles, ``{p: O tokens}``). Cycles are
    counted from each band's start to its last output token. ``handshakes``, a dict, gets the
    cycles in which a lane's input waited on its driver's idle cycles while the lane was ready
    (``"starved"``) and in which an output waited on backpressure (``"held"``) added in."""
    handshakes = {} if handshakes is None else handshakes
    checked.case("layers")
    g = s.geometry
    from isosceles.hw.core import IsosCore
    await load_layer(dut, ctx, IsosCore(config).pack_filters(s.filter_fibers), pou)
    watchdog = Watchdog(dut, ctx, config.lanes, limit=2000)
    cycles, rows = 0, {}
    for band in bands(g, config.lanes):
        inputs = band.input_rows()
        dut.band.value = ctx.pack("band", {
            "rows": band.rows, "inputs": sum(1 << lane for lane in inputs), "R": g.R, "S": g.S,
            "stride": g.stride, "pw": g.pw, "Q": g.Q, "K": g.K, "relu": int(pou.relu),
            "maximum": int(s.maximum)})
        dut.start.value = 1
        await tick(dut)
        dut.start.value = 0
        monitors = [StreamMonitor(dut, f"o__{j}", ctx, backpressure=backpressure)
                    for j in range(band.rows)]
        sending = [cocotb.start_soon(StreamDriver(dut, f"i__{lane}", ctx, idle=idle).send(
            s.inputs[h])) for lane, h in inputs.items()]
        start = monitors[0].cycle
        while True:
            await ReadOnly()  # the values this cycle settled to, not those before the edge
            if not ctx.unpack("status", int(dut.status.value))["busy"]:
                break
            watchdog.check()
            for monitor in monitors:
                monitor.check_rules()
            feeding = [lane for (lane, _), task in zip(inputs.items(), sending, strict=True)
                       if not task.done()]
            handshakes["starved"] = handshakes.get("starved", 0) + _waiting(
                dut, "i", feeding, on_ready=True)
            handshakes["held"] = handshakes.get("held", 0) + _waiting(
                dut, "o", range(band.rows), on_ready=False)
            await RisingEdge(dut.clk)
        cycles += monitors[0].cycle - start
        assert all(task.done() for task in sending), (
            f"band {band} of layer {g} ended before its lanes took their whole input rows")
        await tick(dut)
        for j, monitor in enumerate(monitors):
            monitor.stop()
            rows[band.first_row + j] = monitor.received
        if ctx.unpack("status", int(dut.status.value))["order_error"]:
            flagged = [f"lane{n}" for n in range(config.lanes)
                       if int(getattr(dut, f"lane{n}").status.value) >> 1 & 1]
            flagged += [f"merger{n}" for n in range(config.lanes)
                        if int(getattr(dut, f"merger{n}").order_error.value)]
            raise AssertionError(f"{', '.join(flagged)} flagged an order error in band "
                                 f"{band} of layer {g}")
    watchdog.stop()
    return cycles, rows


def _waiting(dut, side, lanes, *, on_ready):
    """Whether a stream of ``lanes`` on ``side`` waits this cycle: ready without valid
    (``on_ready``, an input starved) or valid without ready (an output held back)."""
    for n in lanes:
        valid = int(getattr(dut, f"{side}__{n}__valid").value)
        ready = int(getattr(dut, f"{side}__{n}__ready").value)
        if (ready and not valid) if on_ready else (valid and not ready):
            return True
    return False


# Every build, whatever the seed, so that every coverage bin is reached in every run: R != S,
# stride 3, a one-row image, an empty input, all-zero filters, a fully connected layer, a padded
# depthwise layer of stride 2, an unpadded grouped one, a dense K = 1, Q = 1 convolution and a
# dense max pooling of 2x2 windows, stride 2.
FIRST = (
    dict(R=3, S=1, stride=1), dict(R=1, S=3, stride=3), dict(H=1, R=1, stride=1),
    dict(act_density=0.0), dict(weight_density=0.0), dict(kind="fc"),
    dict(kind="depthwise", R=2, S=2, stride=2, ph=1, pw=1),
    dict(kind="grouped", R=1, S=1, stride=1, ph=0, pw=0, Cg=2),
    dict(kind="conv", R=1, S=1, stride=1, ph=0, pw=0, W=1, Kg=1, weight_density=1.0),
    dict(kind="maxpool", R=2, S=2, stride=2, act_density=1.0),
)


def layer_coverage(config):
    """The bins of the layer space this bench draws from, for a build of ``config``."""
    kernel = range(1, config.max_kernel + 1)
    return Coverage("core", [
        "stride 1", "stride 2", "stride 3", *(f"R {r}" for r in kernel),
        *(f"S {s}" for s in kernel), "R != S", "padding 0", "padding > 0", "groups 1",
        "groups > 1", "depthwise", "max pooling", "fully connected", "all-zero input",
        "weight density 0",
        "weight density 1", "K 1", "Q 1", "input stalls", "output backpressure"])


def cover_layer(coverage, g, choice, handshakes):
    """Count the bins that the layer of geometry ``g``, drawn as ``choice``, reached; its
    ``handshakes`` (see :func:`run_layer`) tell whether stalls and backpressure happened."""
    pool = choice["kind"] == "maxpool"
    depthwise = (g.groups > 1 and g.channels_per_group == 1 and g.kernels_per_group == 1
                 and not pool)
    for name, reached in [
            (f"stride {g.stride}", True), (f"R {g.R}", True), (f"S {g.S}", True),
            ("R != S", g.R != g.S), ("padding 0", g.ph == g.pw == 0),
            ("padding > 0", g.ph > 0 or g.pw > 0), ("groups 1", g.groups == 1),
            ("groups > 1", g.groups > 1 and not depthwise and not pool),
            ("depthwise", depthwise), ("max pooling", pool),
            ("fully connected", g.groups == 1 and g.H == g.W == g.R == g.S == 1 and not pool),
            ("all-zero input", choice["zero_input"]),
            ("weight density 0", choice["zero_weights"]),
            ("weight density 1", choice["weight_density"] == 1.0),
            ("K 1", g.K == 1), ("Q 1", g.Q == 1),
            ("input stalls", handshakes.get("starved", 0) > 0),
            ("output backpressure", handshakes.get("held", 0) > 0)]:
        coverage.hit(name, reached)


@cocotb.test()
async def golden_layers_under_stalls(dut):
    ctx = tb_context()
    config = config_of(ctx.params)
    rng = np.random.default_rng(ctx.seed)
    coverage = layer_coverage(config)
    await start_clock_and_reset(dut)
    layers = ctx.extra.get("layers", 8)
    try:
        for index in range(layers + len(FIRST)):
            s, pou, choice = random_layer(rng, config,
                                          first=FIRST[index] if index < len(FIRST) else None)
            g = s.geometry
            what = (f"layer {index}: H={g.H} W={g.W} C={g.C} K={g.K} R={g.R} S={g.S} "
                    f"stride={g.stride} pad=({g.ph},{g.pw}) groups={g.groups} relu={pou.relu} "
                    f"maximum={s.maximum}")
            handshakes = {}
            cycles, rows = await run_layer(dut, ctx, config, s, pou, idle=0.3,
                                           backpressure=0.3, handshakes=handshakes)
            for p in range(g.P):
                check_tokens(rows[p], s.outputs[p], f"{what}, output row {p}", "O")
            dut._log.info(f"{what}: {sum(map(len, rows.values()))} output tokens in "
                          f"{cycles} cycles")
            cover_layer(coverage, g, choice, handshakes)
    finally:  # a failing run reports the layers it passed
        for line in coverage.lines():
            dut._log.info(line)
        coverage.save()
    assert not coverage.missed, (f"coverage bins {coverage.missed} were not reached, although "
                                 "FIRST puts a layer in each of them in every run")


# The calibration's layers: full-size ones of every kind and stride, then free draws.
CALIBRATION = (
    dict(H=8, W=8, R=3, S=3, stride=1, kind="conv", Cg=8, Kg=8, act_density=0.5,
         weight_density=0.3),
    dict(H=8, W=8, R=3, S=3, stride=2, kind="conv", Cg=8, Kg=8, act_density=0.3,
         weight_density=1.0),
    dict(H=8, W=8, R=3, S=3, stride=1, kind="depthwise", act_density=0.5, weight_density=0.5),
    dict(H=8, W=8, R=1, S=1, stride=1, kind="conv", Cg=8, Kg=8, act_density=1.0,
         weight_density=0.2),
    dict(H=8, W=8, kind="grouped", Cg=4, Kg=4, stride=3),
    {},
)


@cocotb.test()
async def calibration_layers(dut):
    """Each layer's cycles without stalls against the performance model's prediction
    (:func:`isosceles.perf.core_cycles.predict_conv_cycles`): within ``extra["tolerance"]``."""
    from isosceles.perf.core_cycles import predict_conv_cycles

    ctx = tb_context()
    config = config_of(ctx.params)
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    tolerance, failures = ctx.extra["tolerance"], []
    for index in range(ctx.extra.get("layers", len(CALIBRATION))):
        i, f, stride, padding, groups, pou = random_tensors(
            rng, config, first=CALIBRATION[index] if index < len(CALIBRATION) else None)
        s = isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                         numerics=config.numerics, pou=pou)
        g = s.geometry
        cycles, rows = await run_layer(dut, ctx, config, s, pou, idle=0.0, backpressure=0.0)
        for p in range(g.P):
            check_tokens(rows[p], s.outputs[p], f"layer {index}, output row {p}", "O")
        predicted = predict_conv_cycles(config, i, f, stride=stride, padding=padding,
                                        groups=groups, pou=pou)
        residual = predicted / cycles - 1
        what = (f"layer {index} (H={g.H} W={g.W} C={g.C} K={g.K} R={g.R} S={g.S} "
                f"stride={g.stride} pad=({g.ph},{g.pw}) groups={g.groups}, "
                f"{int(np.count_nonzero(i))} input and {int(np.count_nonzero(f))} weight "
                f"nonzeros): RTL {cycles} cycles, model {predicted}, residual {residual:+.1%}")
        dut._log.info(what)
        if abs(residual) > tolerance:
            failures.append(what)
    assert not failures, (f"the model misses the RTL by more than {tolerance:.0%} (seed "
                          f"{ctx.seed}): " + "; ".join(failures))
