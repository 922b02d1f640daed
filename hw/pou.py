"""The post-processing unit (POU): bias, requantisation, ReLU and fill channels on a lane stream."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.kmerger import lane_layout
from isosceles.hw.priority import first_set

__all__ = ["Pou", "o_lane_layout", "channel_params_layout",
           "pou_config_layout"]

# Clock edges from a token's transfer on `i` to its result on `o`: issue, parameter read, bias
# add, multiply, shift, then rounding and saturation into the output register.
LATENCY = 6


def o_lane_layout(*, numerics, max_channels, max_columns):
    """A token of the O lane stream: bit for bit the next layer's I token (``q -> w``,
    ``k -> c``)."""
    return data.StructLayout({
        "q": unsigned(bits_for(max_columns)),
        "k": unsigned(bits_for(max_channels)),
        "value": signed(numerics.act_bits),
        "marker": 1,
        "last": 1,
    })


def channel_params_layout(*, numerics):
    """One output channel's entry of the parameter table."""
    return data.StructLayout({
        "bias": signed(numerics.bias_bits),
        "mult": unsigned(numerics.mult_bits),
        "shift": unsigned(numerics.shift_bits),
    })


def pou_config_layout(*, max_channels):
    """Runtime configuration of a layer: its channel count ``K`` and whether ReLU applies."""
    return data.StructLayout({"K": unsigned(bits_for(max_channels + 1)), "relu": 1})


class Pou(wiring.Component):
    """Requantises the K-merger lane stream of one output row into its O lane stream.

    Every data token ``(q, k, x)`` becomes ``requantize(x, bias[k], mult[k], shift[k])``
    (:mod:`isosceles.golden.numerics`): ``y = (x + bias) * mult`` exactly in
    ``numerics.pou_product_bits``, an arithmetic right shift by ``shift`` rounding half toward
    +infinity, saturation to ``act_bits``, then ReLU when ``config.relu`` is set. Zero results
    are dropped; markers pass through unchanged. A channel absent from a column is an exact zero
    whose result ``requantize(0, ...)`` need not be zero (large positive bias): for every column
    the POU also emits these *fill* channels, merged into the data in ``k`` order, exactly as
    :func:`isosceles.golden.pou.pou_stream` does.

    Fill channels: each parameter write marks its channel *unprobed*; an unprobed channel's
    entry is read and a zero sent down the datapath as a *probe* whenever the pipeline moves
    (lowest channel first, one a cycle, before any token), and the sign of the probe's saturated
    result is recorded in two flag bits per channel (positive, negative). So a write may come in
    any cycle, even while ``o`` is stalled: its probe waits for the pipeline. Channel ``k`` is a
    fill channel when ``k < config.K`` and its result is positive, or negative with ReLU off:
    the flags hold both signs so ``relu`` can change without reloading. The flags come from the
    datapath itself, so they cannot disagree with it, and software never computes them. The
    value of a fill token is computed at run time by sending ``x = 0`` down the same pipeline.
    Issue: a priority encoder finds the lowest fill channel not yet passed in the current
    column; it goes first when it is below the head data token's ``k`` or the head is the
    column's marker, otherwise the head goes (and a data token of a fill channel replaces its
    fill). So a column costs one cycle per data token, per fill token and for its marker.

    Pipeline (one token per cycle, stalled as a whole by ``o``): issue; parameter-table read;
    ``x + bias``; multiply; shift; rounding, saturation and ReLU into the ``o`` register. A
    token transferred on ``i`` in cycle ``t`` is offered on ``o`` in cycle ``t + 6`` at the earliest
    (``Pou.latency``).

    Loading: write the table through ``param_write`` (``{bias, mult, shift}`` of channel
    ``addr``, one per cycle) between layers; ``i`` is not taken in a write cycle nor while a
    probe is due or in flight, so a stream may be offered right after the last write.
    ``config`` is held while a layer streams. The table, the flags and the unprobed marks keep
    their contents through a reset, but a probe in the pipeline is lost: after a reset within
    six cycles of a write, write that entry again.

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is a register,
    stable while ``o.valid & ~o.ready``; a transfer happens on a rising edge with
    ``valid & ready``. ``i.ready`` depends combinationally on ``o.ready``, on
    ``param_write.en``, on the POU's state and on ``i.payload`` (whether a fill channel goes
    before the head), never on ``i.valid``.

    Parameters
    ----------
    numerics : Numerics
        ``acc_bits`` inputs, ``act_bits`` outputs, ``bias_bits``, ``mult_bits``, ``shift_bits``
        parameters, ``pou_product_bits`` the exact product.
    max_channels : int
        Largest ``K`` (1 to 4096): the parameter table depth and the fill flags.
    max_columns : int
        Largest row length ``Q`` (1 to 4096): the width of ``q``.

    Members
    -------
    i : ``In(stream.Signature(kmerger.lane_layout))``
    o : ``Out(stream.Signature(o_lane_layout))``
    config : ``In(pou_config_layout)``
        ``K`` and ``relu``.
    param_write : ``Out(WritePort.Signature)``
        Writes the parameters of channel ``addr`` (``channel_params_layout``).
    status : ``Out(StructLayout{busy})``
        A token or a probe is in the pipeline or on ``o``.
    """

    latency = LATENCY

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named wires that its logic bypasses: the "
                        "table's port members (table_write__en) and named nodes it reads "
                        "through their temporaries (below_K, below_head, rounded, saturated, "
                        "channel); the POU has no unused signal",
    }

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 4096)
        self._MustUse__silence = False
        self._numerics, self._max_channels = numerics, max_channels
        self.params_layout = channel_params_layout(numerics=numerics)
        self.config_layout = pou_config_layout(max_channels=max_channels)
        self.status_layout = data.StructLayout({"busy": 1})
        super().__init__({
            "i": In(stream.Signature(lane_layout(radix=max_channels, max_columns=max_columns,
                                                  numerics=numerics))),
            "o": Out(stream.Signature(o_lane_layout(numerics=numerics, max_channels=max_channels,
                                                    max_columns=max_columns))),
            "config": In(self.config_layout),
            "param_write": Out(WritePort.Signature(addr_width=ceil_log2(max_channels),
                                                   shape=self.params_layout)),
            "status": Out(self.status_layout),
        })

    def elaborate(self, platform):
        m = Module()
        numerics, max_channels = self._numerics, self._max_channels
        k_shape = unsigned(bits_for(max_channels))
        sum_shape = signed(max(numerics.acc_bits, numerics.bias_bits) + 1)
        product_shape = signed(numerics.pou_product_bits)
        act_low, act_high = numerics.act_range
        write, head = self.param_write, self.i.payload

        table = m.submodules.params = Memory(shape=self.params_layout, depth=max_channels,
                                             init=[])
        table_write = table.write_port()
        table_read = table.read_port(transparent_for=(table_write,))
        m.d.comb += [table_write.addr.eq(write.addr), table_write.data.eq(write.data),
                     table_write.en.eq(write.en)]

        # Every stage moves when the output register is free.
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # --- Fill flags, and the lowest fill channel the current column has not passed. -------
        # Like the table, the flags keep their contents through a reset.
        fill_positive = Signal(max_channels, reset_less=True)
        fill_negative = Signal(max_channels, reset_less=True)
        # Whole-vector operations (thermometer codes from shifts) rather than one comparison
        # per channel: a fraction of the Verilog and of the simulator's build time.
        ones = Const((1 << max_channels) - 1, max_channels)
        # The channels the current column has not emitted or passed, a thermometer code kept
        # as such (not as the lowest such channel) so that the choice below needs no encoder.
        unpassed = Signal(max_channels, init=(1 << max_channels) - 1)
        below_K = Signal(max_channels)
        candidates = Signal(max_channels)
        m.d.comb += [
            below_K.eq(~(ones << self.config.K)),
            candidates.eq((fill_positive | (fill_negative & ~self.config.relu.replicate(
                max_channels))) & below_K & unpassed),
        ]
        fill_found, fill_k = first_set(m, candidates, name="fill")

        # --- Probes: a channel written and not yet probed is *unprobed*; probes go first. ----
        # A write may come in any cycle, even with the output stalled: it only marks its
        # channel, and the probe enters the pipeline when the pipeline next moves.
        unprobed = Signal(max_channels, reset_less=True)
        probe_found, probe_k = first_set(m, unprobed, name="unprobed")
        probe = Signal()
        m.d.comb += probe.eq(advance & probe_found)
        written = Signal(max_channels)
        probed = Signal(max_channels)
        m.d.comb += [written.eq(Mux(write.en, Const(1, max_channels) << write.addr, 0)),
                     probed.eq(Mux(probe, Const(1, max_channels) << probe_k, 0))]
        m.d.sync += unprobed.eq((unprobed & ~probed) | written)

        # --- Issue: a fill channel or the head token, once no probe is due or in flight. -----
        # A fill goes first when one is below the head's channel: a test of the vector against
        # the head's thermometer code, beside (not after) the encoder that finds the fill.
        probing = Signal()
        below_head = Signal(max_channels)
        fill_first = Signal()
        m.d.comb += [below_head.eq(Mux(head.marker, ones, ~(ones << head.k))),
                     fill_first.eq((candidates & below_head).any())]
        issue = Signal()
        m.d.comb += issue.eq(advance & ~write.en & ~probe_found & ~probing)
        m.d.comb += self.i.ready.eq(issue & ~fill_first)
        issue_k = Signal(k_shape)
        m.d.comb += issue_k.eq(Mux(fill_first, fill_k, head.k))
        with m.If(issue & self.i.valid):
            with m.If(fill_first):
                # The channels above the lowest candidate: c ^ (c - 1) is it and those below.
                m.d.sync += unpassed.eq(~(candidates ^ (candidates - 1)))
            with m.Elif(head.marker):
                m.d.sync += unpassed.eq(ones)
            with m.Else():
                m.d.sync += unpassed.eq(ones << (head.k + 1))

        # Stage registers: what each token carries down the pipeline.
        def stage(name):
            return {"valid": Signal(name=f"{name}_valid"), "probe": Signal(name=f"{name}_probe"),
                    "marker": Signal(name=f"{name}_marker"), "last": Signal(name=f"{name}_last"),
                    "q": Signal.like(head.q, name=f"{name}_q"),
                    "k": Signal(k_shape, name=f"{name}_k")}

        def carry(into, source):
            return [into[field].eq(source[field]) for field in into]

        issued, read = stage("issued"), stage("read")
        added, multiplied, shifted = stage("added"), stage("multiplied"), stage("shifted")
        issued_x = Signal(signed(numerics.acc_bits))
        read_x = Signal.like(issued_x)
        added_sum = Signal(sum_shape)
        added_mult = Signal(self.params_layout["mult"].shape)
        added_shift = Signal(self.params_layout["shift"].shape)
        multiplied_product = Signal(product_shape)
        multiplied_shift = Signal.like(added_shift)
        m.d.comb += probing.eq(issued["probe"] | read["probe"] | added["probe"]
                               | multiplied["probe"] | shifted["probe"])

        # The table is read from the issue register: its address is not behind the choice.
        m.d.comb += [table_read.addr.eq(issued["k"]), table_read.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [
                issued["valid"].eq(probe | (issue & self.i.valid)),
                issued["probe"].eq(probe),
                issued["marker"].eq(~probe & ~fill_first & head.marker),
                issued["last"].eq(head.last),
                issued["q"].eq(head.q),
                issued["k"].eq(Mux(probe, probe_k, issue_k)),
                # A fill channel and a probe requantise an exact zero.
                issued_x.eq(Mux(probe | fill_first, 0, head.value)),
            ]
            m.d.sync += carry(read, issued) + [read_x.eq(issued_x)]
            # Stage 2: x + bias, exact.
            m.d.sync += carry(added, read) + [
                added_sum.eq(read_x + table_read.data.bias),
                added_mult.eq(table_read.data.mult),
                added_shift.eq(table_read.data.shift),
            ]
            # Stage 3: (x + bias) * mult, exact.
            m.d.sync += carry(multiplied, added) + [
                multiplied_product.eq(added_sum * added_mult),
                multiplied_shift.eq(added_shift),
            ]

        # (y + 2**(shift-1)) >> shift as ((2y >> shift) + 1) >> 1, which needs no variable
        # rounding constant (and gives y when shift is 0). Stage 4: the shift.
        halves = Signal(signed(numerics.pou_product_bits + 1))
        with m.If(advance):
            m.d.sync += carry(shifted, multiplied) + [
                halves.eq(Cat(Const(0, 1), multiplied_product).as_signed() >> multiplied_shift),
            ]
        # Stage 5: rounding, saturation, ReLU.
        rounded = Signal(signed(numerics.pou_product_bits + 1))
        saturated = Signal(signed(numerics.act_bits))
        result = Signal(signed(numerics.act_bits))
        over, under = Signal(), Signal()
        m.d.comb += [
            rounded.eq((halves + 1) >> 1),
            # rounded > high and rounded < low, read from halves: beside the rounding's carry
            # chain, not after it.
            over.eq(halves > 2 * act_high),
            under.eq(halves < 2 * act_low - 1),
            saturated.eq(Mux(over, act_high, Mux(under, act_low, rounded))),
            result.eq(Mux(self.config.relu & (saturated < 0), 0, saturated)),
        ]
        with m.If(advance):
            emit = shifted["valid"] & ~shifted["probe"]
            m.d.sync += [
                self.o.valid.eq(emit & (shifted["marker"] | (result != 0))),
                self.o.payload.q.eq(shifted["q"]),
                self.o.payload.k.eq(shifted["k"]),
                self.o.payload.value.eq(Mux(shifted["marker"], 0, result)),
                self.o.payload.marker.eq(shifted["marker"]),
                self.o.payload.last.eq(shifted["marker"] & shifted["last"]),
            ]
        # A probe records the sign of the saturated result, before ReLU, for its channel.
        recording = Signal()
        positive = Signal()
        negative = Signal()
        m.d.comb += [recording.eq(advance & shifted["valid"] & shifted["probe"]),
                     positive.eq(saturated > 0), negative.eq(saturated < 0)]
        channel = Signal(max_channels)
        m.d.comb += channel.eq(Const(1, max_channels) << shifted["k"])
        with m.If(recording):
            m.d.sync += [
                fill_positive.eq(Mux(positive, fill_positive | channel, fill_positive & ~channel)),
                fill_negative.eq(Mux(negative, fill_negative | channel, fill_negative & ~channel)),
            ]

        m.d.comb += self.status.busy.eq(probe_found | issued["valid"] | read["valid"]
                                        | added["valid"] | multiplied["valid"]
                                        | shifted["valid"] | self.o.valid)
        return m
