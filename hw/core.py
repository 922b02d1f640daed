"""The IS-OS core: frontend lanes, their substream fan-outs, row mergers and POUs, one band at a
time."""

from functools import reduce
from operator import or_

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.hw.fanout import SubstreamFanout
from isosceles.hw.pe import FrontendLane, input_layout
from isosceles.hw.pou import Pou, o_lane_layout
from isosceles.hw.row_merger import RowMerger
from isosceles.hw.stream_buffer import StreamBuffer

__all__ = ["IsosCore", "MAX_STRIDE", "lane_feeds", "lane_filter_rows"]

MAX_STRIDE = 3  # the interconnect wires backend lane j to frontend lanes j*u + r, u = 1..3


def band_layout(config):
    """The runtime description of one band (see :mod:`isosceles.golden.bands`) and its layer."""
    kernel = config.max_kernel
    return data.StructLayout({
        "rows": unsigned(bits_for(config.lanes + 1)),      # output rows = backend lanes used
        "inputs": unsigned(config.lanes),                 # lane i reads a real input row
        "R": unsigned(bits_for(kernel + 1)),
        "S": unsigned(bits_for(kernel + 1)),
        "stride": unsigned(2),
        "pw": unsigned(bits_for(kernel)),
        "Q": unsigned(bits_for(config.max_columns + 1)),
        "K": unsigned(bits_for(config.max_channels + 1)),
        "relu": 1,
        "maximum": 1,                                     # a max pooling: reduce by the maximum
    })


def lane_filter_rows(rows, R, stride, lane, kernel):
    """Bit ``r``: frontend lane ``lane`` feeds output row ``j = (lane - r) / stride < rows``
    through filter row ``r < R`` (:meth:`isosceles.golden.bands.Band.filter_rows`)."""
    # Every bit is one expression over the strides (a bit assigned only in branches, or only
    # constants, becomes an `always @*` that Verilator never runs).
    return Cat(
        Cat((stride == u) & ((lane - r) // u < rows)
            for u in range(1, MAX_STRIDE + 1) if r <= lane and (lane - r) % u == 0).any()
        & (r < R)
        for r in range(kernel))


def lane_feeds(rows, R, stride, lane, kernel):
    """Frontend lane ``lane`` feeds some output row of the band."""
    return lane_filter_rows(rows, R, stride, lane, kernel).any()


class IsosCore(wiring.Component):
    """``lanes`` frontend lanes and ``lanes`` backend lanes computing one band of output rows.

    Frontend lane ``i`` (:class:`~isosceles.hw.pe.FrontendLane`) reads input row
    ``first_input + i`` on ``i[i]`` and emits its T1, which its
    :class:`~isosceles.hw.fanout.SubstreamFanout` splits by filter row. Backend lane ``j``
    (a :class:`~isosceles.hw.row_merger.RowMerger` and a :class:`~isosceles.hw.pou.Pou`) makes
    output row ``first_row + j`` on ``o[j]`` from substream ``r`` of frontend lane ``j*u + r``,
    ``r < R``: the interconnect is one ``MAX_STRIDE``-way choice per backend input, set by the
    stride. Lanes whose input row is padding (``band.inputs`` bit clear) are not started and
    their substreams count as empty; a frontend lane whose input feeds no output row of the
    band is not started either, and its input stream must stay empty. With ``band.maximum``
    (a max pooling) the lanes and the mergers reduce by the maximum instead of the sum.

    A band: set ``band`` (held until ``busy`` falls), pulse ``start`` while not busy, stream
    the input rows into ``i``; ``busy`` falls once every backend lane in use has sent the final
    marker of its row and every frontend lane has taken its whole input row. The filters
    (``filter_write``, ``pointer_write``, the image of :meth:`pack_filters`) and POU parameters
    (``param_write``) are loaded while not busy; each write goes to every lane.

    Stream contract: as the units it is made of; ``o[j]`` payloads are registers.

    Parameters
    ----------
    config : IsoscelesConfig
        ``lanes`` (at least ``max_kernel``), ``macs_per_pe``, ``max_kernel``, ``max_channels``,
        ``max_columns``, ``filter_buffer_bytes``, ``context_bytes``, ``numerics``.
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "the waivers of its units (FrontendLane, MultiContextQueue, RowMerger, "
                        "Pou): Amaranth's alias wires and constant temporaries; the core's own "
                        "logic has no unused signal",
        "DECLFILENAME": "Amaranth writes the units as modules named core.lane0 and so on into "
                        "the one file",
    }

    def __init__(self, config):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        if not isinstance(config, IsoscelesConfig):
            raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
        if config.lanes < config.max_kernel:
            raise ValueError(
                f"lanes={config.lanes} is below max_kernel={config.max_kernel}: a backend lane "
                f"merges R frontend lanes; raise lanes or lower max_kernel")
        self._MustUse__silence = False
        self.config = config
        numerics, L = config.numerics, config.lanes
        self.lanes = [FrontendLane.from_config(config, max_rows=L) for _ in range(L)]
        self.fanouts = [SubstreamFanout(numerics=numerics, max_kernel=config.max_kernel,
                                        max_channels=config.max_channels,
                                        max_columns=config.max_columns) for _ in range(L)]
        # Backend lane j has a source r only where a frontend lane j*u + r exists, which is
        # for r < L - j whatever the stride: the last lanes' mergers have fewer sources.
        self.mergers = [RowMerger(radix=min(config.max_kernel, L - j),
                                  max_channels=config.max_channels,
                                  max_columns=config.max_columns, numerics=numerics)
                        for j in range(L)]
        self.pous = [Pou(numerics=numerics, max_channels=config.max_channels,
                         max_columns=config.max_columns) for _ in range(L)]
        lane, pou = self.lanes[0], self.pous[0]
        self.band_layout = band_layout(config)
        self.status_layout = data.StructLayout({"busy": 1, "order_error": 1})
        super().__init__({
            "band": In(self.band_layout),
            "start": In(1),
            "i": In(stream.Signature(input_layout(numerics=numerics,
                                                  max_channels=config.max_channels,
                                                  max_columns=config.max_columns))).array(L),
            "o": Out(stream.Signature(o_lane_layout(numerics=numerics,
                                                    max_channels=config.max_channels,
                                                    max_columns=config.max_columns))).array(L),
            "filter_write": Out(lane.filter_write.signature),
            "pointer_write": Out(lane.pointer_write.signature),
            "param_write": Out(pou.param_write.signature),
            "status": Out(self.status_layout),
        })

    def pack_filters(self, fibers):
        """The filter image of a layer's fibers (every lane holds the same)."""
        return self.lanes[0].pack_filters(fibers)

    def elaborate(self, platform):
        m = Module()
        L, kernel = self.config.lanes, self.config.max_kernel
        band = self.band

        def stride_is(u):
            return band.stride == u

        def select(by_stride):
            """The value of ``{stride: value}`` for the band's stride (0 for another)."""
            return reduce(or_, (Mux(stride_is(u), value, 0) for u, value in by_stride.items()))

        lane_rows = [Signal(kernel, name=f"lane{i}_rows") for i in range(L)]
        fanout_rows = [Signal(kernel, name=f"fanout{i}_rows") for i in range(L)]
        for i in range(L):
            m.d.comb += lane_rows[i].eq(Mux(band.inputs[i], lane_filter_rows(
                band.rows, band.R, band.stride, i, kernel), 0))
            # Registered: a fan-out sees its first token cycles after the start, and from the
            # band's registers the rows' choice by stride would run on into its queue's ready.
            m.d.sync += fanout_rows[i].eq(lane_rows[i])

        active = Signal()  # between start and the band's last marker
        finished = Signal(L)  # backend lane j has sent its row's final marker
        for i, (lane, fanout) in enumerate(zip(self.lanes, self.fanouts, strict=True)):
            m.submodules[f"lane{i}"] = lane
            m.submodules[f"fanout{i}"] = fanout
            for port in ("filter_write", "pointer_write"):
                for member in ("addr", "data", "en"):
                    m.d.comb += getattr(getattr(lane, port), member).eq(
                        getattr(getattr(self, port), member))
            m.d.comb += [
                lane.config.h.eq(i), lane.config.P.eq(band.rows), lane.config.Q.eq(band.Q),
                lane.config.S.eq(band.S), lane.config.stride.eq(band.stride),
                lane.config.ph.eq(0), lane.config.pw.eq(band.pw),
                lane.config.maximum.eq(band.maximum),
                lane.start.eq(self.start & (lane_rows[i] != 0)),
                fanout.rows.eq(fanout_rows[i]),
            ]
            wiring.connect(m, wiring.flipped(self.i[i]), lane.i)
            wiring.connect(m, lane.o, fanout.i)

        takers = {}  # (lane, r) -> the terms of its substream's ready, one per backend stride
        for j, (merger, pou) in enumerate(zip(self.mergers, self.pous, strict=True)):
            m.submodules[f"merger{j}"] = merger
            m.submodules[f"pou{j}"] = pou
            for member in ("addr", "data", "en"):
                m.d.comb += getattr(pou.param_write, member).eq(getattr(self.param_write, member))
            m.d.comb += [merger.config.columns.eq(band.Q),
                         merger.config.maximum.eq(band.maximum),
                         merger.start.eq(self.start & (j < band.rows)),
                         pou.config.K.eq(band.K), pou.config.relu.eq(band.relu)]
            # Source r is substream r of frontend lane j*u + r (no lane past the last).
            present = []
            for r in range(len(merger.i)):
                sources = {u: self.fanouts[j * u + r].o[r] for u in range(1, MAX_STRIDE + 1)
                           if j * u + r < L}
                present.append(Cat(stride_is(u) & band.inputs[j * u + r] for u in sources).any()
                               & (r < band.R))
                # A register slice before each merger input: the merger's ready comes from its
                # comparator tree and would otherwise run on into the queues of the fan-outs.
                link = StreamBuffer(layout=merger.i[r].payload.shape())
                m.submodules[f"merger{j}_link{r}"] = link
                wiring.connect(m, link.o, merger.i[r])
                m.d.comb += [
                    link.i.valid.eq(select({u: s.valid for u, s in sources.items()})),
                    link.i.payload.eq(select({u: s.payload.as_value()
                                              for u, s in sources.items()})),
                ]
                for u in sources:
                    takers.setdefault((j * u + r, r), []).append(stride_is(u) & link.i.ready)
            # Registered: the band is set a cycle before the core starts, and the merger reads
            # `present` from the cycle after its start; from the band's registers it would run
            # through the merger's comparator tree into the ready of every source.
            m.d.sync += merger.config.present.eq(Cat(present))
            # A register slice between the merger and its POU: the POU's ready comes from its
            # fill-channel choice and would otherwise run on through the merger's merge
            # decision into its sources.
            pou_link = StreamBuffer(layout=pou.i.payload.shape())
            m.submodules[f"pou{j}_link"] = pou_link
            wiring.connect(m, merger.o, pou_link.i)
            wiring.connect(m, pou_link.o, pou.i)
            wiring.connect(m, pou.o, wiring.flipped(self.o[j]))
            with m.If(self.o[j].valid & self.o[j].ready & self.o[j].payload.last):
                m.d.sync += finished[j].eq(1)

        for (i, r), terms in takers.items():
            m.d.comb += self.fanouts[i].o[r].ready.eq(reduce(or_, terms))

        in_use = Signal(L)
        for j in range(L):
            m.d.comb += in_use[j].eq(j < band.rows)
        with m.If(self.start):
            m.d.sync += [active.eq(1), finished.eq(0)]
        with m.Elif(active & ((finished & in_use) == in_use)):
            m.d.sync += active.eq(0)
        m.d.comb += [
            # A lane may finish its T1 before its input: the columns past the last output
            # column's window (a stride above 1 skips them) still have to be taken.
            self.status.busy.eq(active | Cat(lane.status.busy for lane in self.lanes).any()),
            self.status.order_error.eq(
                Cat(*(lane.status.order_error for lane in self.lanes),
                    *(merger.order_error for merger in self.mergers)).any()),
        ]
        return m
