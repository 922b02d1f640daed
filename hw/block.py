"""The IS-OS block: the core with its memory side, run by a host through registers.

A host loads a layer's descriptor into the AXI4-Lite registers (:func:`block_registers`) and
pulses ``start``; the block checks the descriptor, loads the filters and the POU table, then
computes the layer band by band (:mod:`isosceles.golden.bands`): each frontend lane reads its
input row through the row table, each backend lane writes its output row and table entry. A
residual add has no filters or POU table; pairs of lanes read its two inputs' rows and merge
adders sum them. All
memory traffic goes through one AXI4 master. ``docs/memory.md`` is the memory format and the
register map.
"""

import enum as python_enum

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.hw.axi import MAX_CLIENTS, AxiLiteSignature, AxiMaster, AxiSignature
from isosceles.hw.core import MAX_STRIDE, IsosCore, lane_feeds
from isosceles.hw.fetch import TableRowFetcher
from isosceles.hw.filter_loader import FilterLoader, LoadError
from isosceles.hw.flatten import RowFlattener
from isosceles.hw.merge_adder import MergeAdder
from isosceles.hw.pou_loader import PouLoader
from isosceles.hw.registers import AxiLiteRegisters, Register
from isosceles.hw.stream_buffer import StreamBuffer
from isosceles.hw.words import WORD_BYTES, WordPacker, WordUnpacker
from isosceles.hw.writer import RowWriter

__all__ = ["IsosBlock", "BlockError", "block_registers", "DESCRIPTOR_FIELDS", "REGION_ALIGN"]

REGION_ALIGN = 64  # every region of the memory image starts on this boundary (docs/memory.md)
ADDR_WIDTH = 32
REGISTER_ADDR_WIDTH = 8

# The descriptor, in the order of LayerImage.descriptor(); the address fields are byte
# addresses, output_row_stride is in words.
SHAPE_FIELDS = ("kind", "H", "W", "C", "K", "R", "S", "P", "Q", "stride", "pad_h", "pad_w",
                "groups", "relu")
ADDRESS_FIELDS = ("input_table", "input_words", "filter_table", "filter_words", "pou_table",
                  "output_table", "output_words")
ADD_ADDRESS_FIELDS = ("input2_table", "input2_words")  # the second input of a residual add
DESCRIPTOR_FIELDS = (*SHAPE_FIELDS[:14], "input_table", "input_words", "filter_channels",
                     "filter_table", "filter_words", "pou_table", "output_table",
                     "output_words", "output_row_stride", *ADD_ADDRESS_FIELDS)
KIND_MAXPOOL = 2  # descriptor kind of a max pooling (0 convolution, 1 fully connected)
KIND_ADD = 3  # descriptor kind of a residual add
COUNTERS = {
    "cycles": "cycles from start to done",
    "macs": "effectual multiplications (nonzero weight times nonzero input)",
    "read_bytes": "bytes the units asked to read (words times 4)",
    "write_bytes": "bytes the units asked to write (words times 4)",
    "bus_read_bytes": "bytes moved on the AXI R channel (whole beats)",
    "bus_write_bytes": "bytes written on the AXI W channel (strobed bytes)",
    "load_cycles": "cycles loading the filters and the POU table",
    "input_stall_cycles": "band cycles in which a lane waits for its input row",
    "output_stall_cycles": "band cycles in which a backend lane waits for its writer",
}


class BlockError(python_enum.IntEnum):
    """The ``error`` field of ``status``: why a run ended without a result."""

    NONE = 0
    SHAPE = 1            # a shape field beyond the build's maxima, or inconsistent
    ALIGN = 2            # an address not on a 64-byte boundary
    UNSUPPORTED = 3      # a layer kind the block does not run (or an add on a one-lane build)
    FILTER_FORMAT = 4    # a filter word the encoder would not have written
    FILTER_OVERFLOW = 5  # the fibers need more words than the filter buffer has
    POU_FORMAT = 6       # a POU entry beyond the numerics, or with a reserved bit
    INPUT_FORMAT = 7     # an input word or row table entry the encoder would not have written
    BUS = 8              # the memory answered SLVERR or DECERR
    ORDER = 9            # a unit saw tokens out of order (a hardware fault)


CHECK_LATENCY = 2  # cycles from the descriptor to its checks' result (two register stages)


class Phase(enum.Enum, shape=3):
    """The sequencer's: a run goes IDLE, CHECK, LOAD, then PREPARE, BAND and RUN for each band,
    DRAIN."""

    IDLE = 0
    CHECK = 1    # the descriptor's checks settle (CHECK_LATENCY cycles)
    LOAD = 2     # filters and POU table
    PREPARE = 3  # one cycle: the band's rows, inputs and addresses settle into registers
    BAND = 4     # one cycle: the band's fields are set and its units started
    RUN = 5      # until the band's units are idle
    DRAIN = 6    # until every write is acknowledged


def block_registers():
    """The register map: control and status, the descriptor, the counters."""
    registers = [
        Register("control", 0x00, "pulse", 1, doc="bit 0: start (while not busy)"),
        Register("status", 0x04, "ro", 8,
                 doc="bit 0 busy; bit 1 done (since the last start); bits 7..4 error code"),
    ]
    for index, name in enumerate(DESCRIPTOR_FIELDS):
        registers.append(Register(name.lower(), 0x10 + 4 * index, "rw", 32,
                                  doc=f"descriptor field {name} (docs/memory.md)"))
    for index, (name, doc) in enumerate(COUNTERS.items()):
        registers.append(Register(name, 0x80 + 8 * index, "ro", 64, doc=doc))
    return registers


class IsosBlock(wiring.Component):
    """The accelerator as a host sees it: an AXI4-Lite slave ``s_axil`` (the registers of
    :func:`block_registers`) and an AXI4 master ``m_axi`` to memory.

    A run: write the descriptor, write 1 to ``control``; ``status.busy`` rises and, when it
    falls, ``status.done`` is set and ``status.error`` says whether the output is there
    (:class:`BlockError`). A descriptor the build cannot run ends at once with its error code;
    a format or bus error ends the run once every request in flight has completed, so the block
    never hangs on bad input (``BUS`` wins over a format code: an error beat's data is garbage).
    Descriptor registers refuse writes while busy (SLVERR). The counters restart at each start.
    Layer kinds: 0 a convolution, 1 fully connected, 2 a max pooling (a depthwise convolution
    whose unit weights and identity POU table the host lays out, reduced by the maximum), 3 a
    residual add (on the merge adders, below; a one-lane build has none and refuses it).

    Inside: an :class:`~isosceles.hw.core.IsosCore`; a
    :class:`~isosceles.hw.filter_loader.FilterLoader` and a
    :class:`~isosceles.hw.pou_loader.PouLoader`, whose writes go to every lane; one
    :class:`~isosceles.hw.fetch.TableRowFetcher` per frontend lane and one
    :class:`~isosceles.hw.writer.RowWriter` per backend lane; one
    :class:`~isosceles.hw.axi.AxiMaster` whose clients are those units, each through a
    :class:`~isosceles.hw.words.WordUnpacker` or :class:`~isosceles.hw.words.WordPacker`; and
    ``lanes // 2`` :class:`~isosceles.hw.merge_adder.MergeAdder`, which run a residual add
    (``kind`` 3) instead of the core: adder ``j`` sums the rows fetchers ``j`` and
    ``lanes // 2 + j`` read and feeds writer ``j``.

    Parameters
    ----------
    config : IsoscelesConfig
        The core's fields, and ``axi_data_width``.
    max_burst : int
        Beats per AXI burst (1 to 256), and each client's buffer in beats.
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "the waivers of its units (core, loaders, fetchers, writers, AXI "
                        "master, word adapters, registers): alias wires and constant "
                        "temporaries, the AXI IDs and protection bits, and the descriptor's "
                        "groups field, which the hardware only checks (the fibers carry "
                        "global channels)",
        "DECLFILENAME": "Amaranth writes the units as modules named isos_block.core and so on "
                        "into the one file",
    }

    def __init__(self, config, *, max_burst=16):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        if isinstance(config, IsoscelesConfig) and config.lanes + 2 > MAX_CLIENTS:
            raise ValueError(f"lanes={config.lanes}: the block's AXI master serves at most "
                             f"{MAX_CLIENTS} read clients, one a lane and two loaders; lower "
                             f"lanes to {MAX_CLIENTS - 2} or fewer")
        self.core = IsosCore(config)
        L = config.lanes
        self.axi = AxiMaster(read_clients=L + 2, write_clients=L, addr_width=ADDR_WIDTH,
                             data_width=config.axi_data_width, max_burst=max_burst)
        self.registers = AxiLiteRegisters(block_registers(), addr_width=REGISTER_ADDR_WIDTH,
                                          locked=[name.lower() for name in DESCRIPTOR_FIELDS])
        self._MustUse__silence = False
        self.config = config
        super().__init__({
            "s_axil": In(AxiLiteSignature(addr_width=REGISTER_ADDR_WIDTH)),
            "m_axi": Out(AxiSignature(addr_width=ADDR_WIDTH, data_width=config.axi_data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        config, core, axi, regs = self.config, self.core, self.axi, self.registers
        L, kernel, numerics = config.lanes, config.max_kernel, config.numerics
        m.submodules.core, m.submodules.axi, m.submodules.registers = core, axi, regs
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        wiring.connect(m, axi.m_axi, wiring.flipped(self.m_axi))
        lane = core.lanes[0]

        filters = FilterLoader(numerics=numerics, macs_per_pe=config.macs_per_pe,
                               max_kernel=kernel, max_channels=config.max_channels,
                               words=lane.filter_buffer.words, addr_width=ADDR_WIDTH)
        pou = PouLoader(numerics=numerics, max_channels=config.max_channels,
                        addr_width=ADDR_WIDTH)
        fetchers = [TableRowFetcher(numerics=numerics, max_channels=config.max_channels,
                                    max_columns=config.max_columns, addr_width=ADDR_WIDTH)
                    for _ in range(L)]
        writers = [RowWriter(numerics=numerics, max_channels=config.max_channels,
                             max_columns=config.max_columns, addr_width=ADDR_WIDTH)
                   for _ in range(L)]
        # A residual add's: adder j sums the rows of fetchers j and L // 2 + j into writer j.
        adders = [MergeAdder(numerics=numerics, max_channels=config.max_channels,
                             max_columns=config.max_columns) for _ in range(L // 2)]
        for j, adder in enumerate(adders):
            m.submodules[f"adder{j}"] = adder
        m.submodules.filters, m.submodules.pou = filters, pou
        # Registered: a loader's write reaches every lane's filter buffer (or every POU's
        # table), so from the loader it would run on from the memory side's word decode into
        # all of them. The core reads neither until cycles after the loaders finish.
        for core_port, loader_port in ((core.filter_write, filters.filter_write),
                                       (core.pointer_write, filters.pointer_write),
                                       (core.param_write, pou.param_write)):
            m.d.sync += [getattr(core_port, member).eq(getattr(loader_port, member))
                         for member in ("addr", "data", "en")]

        # Memory clients: read client 0 the filter loader, 1 the POU loader, 2 + i fetcher i;
        # write client j writer j. Each client's requested words are counted.
        beat_shift = exact_log2(config.axi_data_width // 8)

        def bus_request(beats, request):
            """Connect an adapter's request of whole beats to the master's request in bytes."""
            m.d.comb += [
                request.valid.eq(beats.valid),
                request.payload.addr.eq(beats.payload.addr),
                request.payload.bytes.eq(beats.payload.beats << beat_shift),
                beats.ready.eq(request.ready),
            ]

        requested = {"read": [], "write": []}
        for index, unit in enumerate([filters, pou, *fetchers]):
            unpacker = WordUnpacker(data_width=config.axi_data_width, addr_width=ADDR_WIDTH,
                                    max_words=(1 << len(unit.req.payload.words)) - 1)
            if index >= 2:
                m.submodules[f"fetcher{index - 2}"] = unit
            m.submodules[f"unpacker{index}"] = unpacker
            wiring.connect(m, unit.req, unpacker.req_i)
            wiring.connect(m, unpacker.word, unit.word)
            data = axi.read_data[index]
            bus_request(unpacker.req_o, axi.read_req[index])
            m.d.comb += [
                unpacker.beat.valid.eq(data.valid),
                unpacker.beat.payload.eq(data.payload.data),
                data.ready.eq(unpacker.beat.ready),
            ]
            requested["read"].append(Mux(unit.req.valid & unit.req.ready,
                                         unit.req.payload.words, 0))
        # Write requests of the writers not yet acknowledged: each becomes one AXI request
        # (none is empty) and one write_done.
        write_requests = Signal(16)
        issued, done = [], []
        for index, writer in enumerate(writers):
            packer = WordPacker(data_width=config.axi_data_width, addr_width=ADDR_WIDTH,
                                max_words=(1 << len(writer.req.payload.words)) - 1)
            m.submodules[f"writer{index}"], m.submodules[f"packer{index}"] = writer, packer
            wiring.connect(m, writer.req, packer.req_i)
            wiring.connect(m, writer.word, packer.word)
            bus_request(packer.req_o, axi.write_req[index])
            data = axi.write_data[index]
            m.d.comb += [
                data.valid.eq(packer.beat.valid),
                data.payload.data.eq(packer.beat.payload.data),
                data.payload.strb.eq(packer.beat.payload.strb),
                packer.beat.ready.eq(data.ready),
            ]
            taken = writer.req.valid & writer.req.ready
            requested["write"].append(Mux(taken, writer.req.payload.words, 0))
            issued.append(taken)
            done.append(axi.write_done[index])
        m.d.sync += write_requests.eq(write_requests + sum(issued) - sum(done))

        # --- The descriptor and its checks. ---------------------------------------------------
        d = {name: getattr(regs, name.lower()) for name in DESCRIPTOR_FIELDS}
        # Products take the fields at the widths the checks allow, so no 32x32 multiplier.
        u = d["stride"][:2]
        Q, K = d["Q"][:bits_for(config.max_columns + 1)], d["K"][:bits_for(config.max_channels + 1)]

        def within(name, low, high):
            return (d[name] >= low) & (d[name] <= high)

        def staged(value, name):
            """``value`` through a register: the checks' sums and products end at flip-flops,
            and their comparisons start at them (CHECK_LATENCY)."""
            register = Signal.like(value, name=name)
            m.d.sync += register.eq(value)
            return register

        def spans(out, size, pad, window):
            """``out = (size + 2 pad - window) // u + 1``, as ``(out-1) u <= size + 2 pad -
            window < out u``; the operands are 32-bit, so the sums are taken 36 bits wide."""
            reach = staged((d[size] + 2 * d[pad] - d[window]).as_signed(), f"reach_{out}")
            low = staged((d[out] - 1) * u, f"{out}_low")
            high = staged(d[out] * u, f"{out}_high")
            return (reach >= 0) & (low <= reach) & (reach < high)

        stride_ok = ((d["output_row_stride"] >= staged(Q * (K + 1), "row_words"))
                     & (d["output_row_stride"] < (1 << 24)))
        conv_ok = (within("R", 1, kernel) & within("S", 1, kernel) & within("stride", 1,
                                                                             MAX_STRIDE)
                    & (d["pad_h"] < d["R"]) & (d["pad_w"] < d["S"])
                    & within("W", 1, config.max_columns) & within("Q", 1, config.max_columns)
                    & within("C", 1, config.max_channels) & within("K", 1, config.max_channels)
                    & (d["H"] >= 1) & (d["P"] >= 1) & (d["H"] < (1 << 30))
                    & within("groups", 1, config.max_channels) & (d["relu"] <= 1)
                    & (d["filter_channels"] == d["C"])
                    & spans("P", "H", "pad_h", "R") & spans("Q", "W", "pad_w", "S") & stride_ok)
        # A fully connected layer: a 1x1 convolution of the H*W*C inputs as one row's channels.
        fc = Signal()
        flat = staged(d["H"][:bits_for(config.max_channels + 1)]
                      * d["W"][:bits_for(config.max_columns + 1)]
                      * d["C"][:bits_for(config.max_channels + 1)], "flat")
        fc_ok = (within("R", 1, 1) & within("S", 1, 1) & within("stride", 1, 1)
                 & (d["pad_h"] == 0) & (d["pad_w"] == 0) & within("P", 1, 1) & within("Q", 1, 1)
                 & within("H", 1, config.max_channels) & within("W", 1, config.max_columns)
                 & within("C", 1, config.max_channels) & within("K", 1, config.max_channels)
                 & within("groups", 1, 1) & (d["relu"] <= 1) & (d["filter_channels"] == flat)
                 & (d["filter_channels"] <= config.max_channels) & stride_ok)
        m.d.comb += fc.eq(d["kind"] == 1)
        # A max pooling: a depthwise convolution (unit weights, identity POU) reduced by the
        # maximum.
        maxpool = Signal()
        m.d.comb += maxpool.eq(d["kind"] == KIND_MAXPOOL)
        pool_ok = conv_ok & (d["K"] == d["C"]) & (d["groups"] == d["C"])
        # A residual add: two inputs and an output of one shape, no filters, no POU.
        add = Signal()
        m.d.comb += add.eq(d["kind"] == KIND_ADD)
        add_ok = (within("R", 1, 1) & within("S", 1, 1) & within("stride", 1, 1)
                  & (d["pad_h"] == 0) & (d["pad_w"] == 0) & (d["relu"] == 0)
                  & within("W", 1, config.max_columns) & (d["Q"] == d["W"])
                  & within("C", 1, config.max_channels) & (d["K"] == d["C"])
                  & (d["H"] >= 1) & (d["H"] < (1 << 30)) & (d["P"] == d["H"]) & stride_ok)
        shape_ok = Mux(add, add_ok, Mux(fc, fc_ok, Mux(maxpool, pool_ok, conv_ok)))

        def aligned_fields(names):
            return Cat(d[name][:exact_log2(REGION_ALIGN)] == 0 for name in names).all()

        aligned = Mux(add, aligned_fields(("input_table", "input_words", "output_table",
                                           "output_words", *ADD_ADDRESS_FIELDS)),
                      aligned_fields(ADDRESS_FIELDS))
        check = Signal(4)
        with m.If((d["kind"] > KIND_MAXPOOL) & ~(add if adders else 0)):
            m.d.comb += check.eq(BlockError.UNSUPPORTED)
        with m.Elif(~shape_ok):
            m.d.comb += check.eq(BlockError.SHAPE)
        with m.Elif(~aligned):
            m.d.comb += check.eq(BlockError.ALIGN)
        # Registered, so that the checks end at a flip-flop instead of running on into the
        # loaders' start (the ulx3s build's critical path, 31.8 MHz). The descriptor is locked
        # from the cycle `start` is seen, so CHECK waits CHECK_LATENCY - 1 cycles and then
        # reads this run's checks.
        checked = Signal(4)
        m.d.sync += checked.eq(check)
        check_wait = Signal(range(CHECK_LATENCY))

        # --- Band state (golden/bands.py). ----------------------------------------------------
        per_band = Signal(range(L + 1))       # (L - R) // u + 1
        with m.Switch(Cat(d["R"][:4], u)):
            for R in range(1, kernel + 1):
                for stride in range(1, MAX_STRIDE + 1):
                    with m.Case(R | stride << 4):
                        m.d.comb += per_band.eq((L - R) // stride + 1)
            with m.Default():  # a descriptor the checks refuse
                m.d.comb += per_band.eq(1)
        with m.If(add):  # a band: one output row per adder
            m.d.comb += per_band.eq(max(len(adders), 1))
        first_row = Signal(32)                # p0
        first_input = Signal(signed(34))      # p0 u - pad_h
        row_offset = Signal(32)               # p0 * output_row_stride, in words
        # What the band's start needs is registered from the band state (and so settles in
        # PREPARE), so that no path runs from the band state's arithmetic into the start of the
        # units and the enables of their configuration registers.
        rows_left = Signal(32)                # P - p0
        rows_now = Signal(range(L + 1))
        m.d.comb += rows_now.eq(Mux(rows_left < per_band, rows_left, per_band))
        rows = Signal(range(L + 1))
        m.d.sync += rows.eq(rows_now)
        last_band = Signal()
        m.d.sync += last_band.eq(rows_left <= per_band)
        band_step = Signal(32)                # per_band * output_row_stride, in words
        m.d.sync += band_step.eq(per_band * d["output_row_stride"])

        band = core.band
        band_inputs = Signal(L)
        # A fully connected layer's input rows all go, one after another, to lane 0 through the
        # flattener; fc_row is the row lane 0's fetcher reads (0 for a convolution).
        # refetch: a pulse through two stages, set in RUN, so that fetcher 0's registered
        # configuration follows fc_row before the second stage starts it.
        fc_row, refetch = Signal(32), Signal(2)
        m.d.sync += refetch.eq(refetch << 1)
        flatten = RowFlattener(numerics=numerics, max_channels=config.max_channels,
                               max_columns=config.max_columns)
        m.submodules.flatten = flatten
        m.d.comb += [flatten.enable.eq(fc), flatten.C.eq(d["C"])]
        m.d.sync += flatten.final.eq(fc_row + 1 >= d["H"])  # settles before the row starts
        for i, fetcher in enumerate(fetchers):
            h = first_input + i + (fc_row if i == 0 else 0)
            feeds = lane_feeds(rows_now, d["R"], u, i, kernel) & ~add
            table, words = d["input_table"], d["input_words"]
            # A residual add: fetcher j reads row first_row + j of the first input, fetcher
            # L // 2 + j the same row of the second, for adder j.
            if i < 2 * len(adders):
                j, second = i % len(adders), i >= len(adders)
                h = Mux(add, first_input + j, h)
                feeds = Mux(add, j < rows_now, feeds)
                if second:
                    table = Mux(add, d["input2_table"], table)
                    words = Mux(add, d["input2_words"], words)
            m.d.sync += band_inputs[i].eq(feeds & (h >= 0) & (h < d["H"]))
            m.d.sync += [
                fetcher.config.entry_addr.eq(table + (h[:32] << 3)),
                fetcher.config.words_addr.eq(words),
                fetcher.config.W.eq(d["W"]),
            ]
            # A register slice before each lane: the lane's ready comes from its fiber walk,
            # which starts at the filter memory's output, and would otherwise run on through the
            # fetcher and its word unpacker into the AXI master's read buffers.
            link = StreamBuffer(layout=core.i[i].payload.shape())
            m.submodules[f"input_link{i}"] = link
            m.d.comb += [core.i[i].valid.eq(link.o.valid & ~add),
                         core.i[i].payload.eq(link.o.payload),
                         link.o.ready.eq(core.i[i].ready)]
            if i < 2 * len(adders):
                adder = adders[i % len(adders)]
                operand = adder.i_b if i >= len(adders) else adder.i_a
                m.d.comb += [operand.valid.eq(link.o.valid & add),
                             operand.payload.eq(link.o.payload)]
                with m.If(add):
                    m.d.comb += link.o.ready.eq(operand.ready)
            if i == 0:
                wiring.connect(m, fetcher.o, flatten.i)
                wiring.connect(m, flatten.o, link.i)
            else:
                wiring.connect(m, fetcher.o, link.i)
        for j, writer in enumerate(writers):
            offset = row_offset + j * d["output_row_stride"]
            m.d.sync += [
                writer.config.row_addr.eq(d["output_words"] + (offset << 2)),
                writer.config.table_addr.eq(d["output_table"] + ((first_row + j) << 3)),
                writer.config.word_offset.eq(offset),
            ]
            # The core's output row, or an adder's for a residual add (the O lane token is
            # bit for bit the I token).
            m.d.comb += [writer.i.valid.eq(core.o[j].valid & ~add),
                         writer.i.payload.eq(core.o[j].payload),
                         core.o[j].ready.eq(writer.i.ready & ~add)]
            if j < len(adders):
                adder = adders[j]
                m.d.comb += adder.o.ready.eq(writer.i.ready & add)
                with m.If(add):
                    m.d.comb += [writer.i.valid.eq(adder.o.valid),
                                 writer.i.payload.eq(adder.o.payload.as_value())]
        m.d.comb += [
            filters.config.table_addr.eq(d["filter_table"]),
            filters.config.words_addr.eq(d["filter_words"]),
            filters.config.C.eq(d["filter_channels"]),
            pou.config.table_addr.eq(d["pou_table"]),
            pou.config.K.eq(d["K"]),
        ]

        # --- The sequencer. -------------------------------------------------------------------
        phase = Signal(Phase)
        busy, finished, error = Signal(), Signal(), Signal(4)
        band_macs = Signal()  # the band is over: its lanes' product counters are final
        loading, in_band, launch = Signal(), Signal(), Signal()
        m.d.comb += core.start.eq(launch)
        m.d.sync += launch.eq(0)
        units_busy = Cat(core.status.busy, *(f.status.busy for f in fetchers),
                         *(w.status.busy for w in writers)).any()
        # A fetcher's format_error holds until its next row starts: read it once the band's
        # fetchers are idle, only for those the band started (not a stale one of an earlier
        # run), and keep lane 0's before a fully connected layer's next row clears it.
        band_input_error = Cat(band.inputs[i] & f.status.format_error
                               for i, f in enumerate(fetchers)).any()
        input_error = Signal()  # of an earlier row of a fully connected layer

        def fail(code):
            m.d.sync += error.eq(Mux(error == 0, code, error))

        with m.If(phase == Phase.IDLE):
            with m.If(regs.control[0]):
                m.d.sync += [busy.eq(1), finished.eq(0), error.eq(0), input_error.eq(0),
                             check_wait.eq(CHECK_LATENCY - 1)]
                m.d.sync += phase.eq(Phase.CHECK)
        with m.Elif(phase == Phase.CHECK):
            with m.If(check_wait != 0):
                m.d.sync += check_wait.eq(check_wait - 1)
            with m.Elif(checked != 0):
                fail(checked)
                m.d.sync += phase.eq(Phase.DRAIN)
            with m.Else():
                m.d.comb += [filters.start.eq(~add), pou.start.eq(~add), flatten.start.eq(1)]
                m.d.sync += [first_row.eq(0), first_input.eq(-d["pad_h"]), rows_left.eq(d["P"]),
                             row_offset.eq(0), loading.eq(~add), fc_row.eq(0)]
                with m.If(add):  # a residual add has neither filters nor a POU table to load
                    m.d.sync += phase.eq(Phase.PREPARE)
                with m.Else():
                    m.d.sync += phase.eq(Phase.LOAD)
        with m.Elif(phase == Phase.LOAD):
            with m.If(~filters.status.busy & ~pou.status.busy & loading):
                m.d.sync += loading.eq(0)
            with m.If(~loading):
                with m.If(filters.status.error == LoadError.FORMAT):
                    fail(BlockError.FILTER_FORMAT)
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Elif(filters.status.error == LoadError.OVERFLOW):
                    fail(BlockError.FILTER_OVERFLOW)
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Elif(pou.status.format_error):
                    fail(BlockError.POU_FORMAT)
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Else():
                    m.d.sync += phase.eq(Phase.PREPARE)
        with m.Elif(phase == Phase.PREPARE):
            m.d.sync += phase.eq(Phase.BAND)
        with m.Elif(phase == Phase.BAND):
            # The core starts a cycle later, once it sees the band's fields (a residual add
            # bypasses it).
            m.d.sync += launch.eq(~add)
            m.d.comb += [fetcher.start.eq(band_inputs[i])
                         for i, fetcher in enumerate(fetchers)]
            m.d.comb += [writer.start.eq(j < rows) for j, writer in enumerate(writers)]
            m.d.sync += [band.rows.eq(rows), band.inputs.eq(band_inputs),
                         band.R.eq(d["R"]), band.S.eq(d["S"]), band.stride.eq(u),
                         band.pw.eq(d["pad_w"]), band.Q.eq(d["Q"]),
                         band.K.eq(d["K"]), band.relu.eq(d["relu"]),
                         band.maximum.eq(maxpool), in_band.eq(1)]
            m.d.sync += phase.eq(Phase.RUN)
        with m.Elif(phase == Phase.RUN):
            with m.If(~units_busy & in_band & ~launch):
                m.d.sync += in_band.eq(0)
            # A fully connected layer: lane 0's fetcher reads the next input row once it is idle.
            with m.If(fc & in_band & ~fetchers[0].status.busy & (refetch == 0)
                      & (fc_row + 1 < d["H"])):
                m.d.sync += [fc_row.eq(fc_row + 1), refetch[0].eq(1),
                             input_error.eq(input_error | fetchers[0].status.format_error)]
            with m.If(~in_band):
                m.d.comb += band_macs.eq(1)
                with m.If(input_error | band_input_error):
                    fail(BlockError.INPUT_FORMAT)
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Elif(core.status.order_error & ~add):
                    fail(BlockError.ORDER)
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Elif(last_band):
                    m.d.sync += phase.eq(Phase.DRAIN)
                with m.Else():
                    m.d.sync += [first_row.eq(first_row + per_band),
                                 rows_left.eq(rows_left - per_band),
                                 first_input.eq(first_input + per_band * u),
                                 row_offset.eq(row_offset + band_step)]
                    m.d.sync += phase.eq(Phase.PREPARE)
        with m.Else():  # Phase.DRAIN
            # Every write acknowledged and every unit idle (a failed load still takes the
            # rest of its words).
            with m.If((write_requests == 0) & ~units_busy & ~filters.status.busy
                      & ~pou.status.busy):
                with m.If(axi.error.valid):  # over a format error: the data may be garbage
                    m.d.sync += error.eq(BlockError.BUS)
                m.d.sync += [busy.eq(0), finished.eq(1)]
                m.d.sync += phase.eq(Phase.IDLE)

        with m.If(refetch[1]):
            m.d.comb += fetchers[0].start.eq(1)
        m.d.comb += regs.status.eq(Cat(busy, finished, Const(0, 2), error))
        # The running layer reads the descriptor registers: writes to them wait for idle.
        m.d.comb += regs.lock.eq(busy | regs.control[0])

        # --- Counters, cleared at start. ------------------------------------------------------
        start = regs.control[0] & ~busy
        m.d.comb += axi.clear.eq(start)
        counts = {
            "cycles": busy,
            # A lane's counter restarts with each band it is started in.
            "macs": Mux(band_macs & ~add, sum(Mux(band.inputs[i], lane.perf.products, 0)
                                              for i, lane in enumerate(core.lanes)), 0),
            "read_bytes": sum(requested["read"]) * WORD_BYTES,
            "write_bytes": sum(requested["write"]) * WORD_BYTES,
            "load_cycles": loading,
            "input_stall_cycles": in_band & Cat(~f.o.valid & f.o.ready & f.status.busy
                                                for f in fetchers).any(),
            "output_stall_cycles": in_band & Cat(w.i.valid & ~w.i.ready for w in writers).any(),
        }
        for name, increment in counts.items():
            counter = Signal(64, name=f"count_{name}")
            m.d.sync += counter.eq(Mux(start, 0, counter + increment))
            m.d.comb += getattr(regs, name).eq(counter)
        m.d.comb += [regs.bus_read_bytes.eq(axi.read_bytes),
                     regs.bus_write_bytes.eq(axi.write_bytes)]
        return m
