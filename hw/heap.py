"""A pipelined min-heap: a priority queue that accepts one operation every other cycle."""

from amaranth import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int

__all__ = ["PipelinedHeap", "HeapOp", "entry_layout", "operation_layout"]


class HeapOp(enum.Enum, shape=2):
    """What an operation does to the heap."""

    INSERT = 0   # add (key, payload)
    EXTRACT = 1  # remove the minimum (it is sent on ``o``)
    REPLACE = 2  # remove the minimum (sent on ``o``) and add (key, payload): one sift


def entry_layout(*, key_bits, payload_bits):
    """A heap entry. The payload is the low field, so ``entry.as_value()`` orders entries by key,
    then by payload (the heap's tie order)."""
    return data.StructLayout({"payload": unsigned(payload_bits), "key": unsigned(key_bits)})


def operation_layout(*, key_bits, payload_bits):
    """An operation: ``op`` and, for INSERT and REPLACE, the entry to add."""
    return data.StructLayout({"op": HeapOp, "key": unsigned(key_bits),
                              "payload": unsigned(payload_bits)})


# What a stage does with the node its operation has reached.
_IDLE, _INSERT, _SIFT = 0, 1, 2


class _Level:
    """The entries of one heap level: a register for a single node, else a memory with
    asynchronous read ports; the occupied flags are registers, so reset empties the heap."""

    def __init__(self, m, level, nodes, layout):
        self.level, self.nodes, self._m, self._layout = level, nodes, m, layout
        self.occupied = Signal(nodes, name=f"occupied{level}")
        if nodes == 1:
            self._register = Signal(layout, name=f"entry{level}")
        else:
            self._memory = Memory(shape=layout, depth=nodes, init=[])
            self._write = self._memory.write_port()
            m.submodules[f"level{level}"] = self._memory

    def read(self, node, name):
        """(occupied, entry) of ``node``; an index past the level's last node reads empty."""
        occupied, entry = Signal(name=f"{name}_occupied"), Signal(self._layout, name=name)
        if self.nodes == 1:
            self._m.d.comb += entry.eq(self._register)
            self._m.d.comb += occupied.eq(self.occupied[0] & (node == 0))
        else:
            port = self._memory.read_port(domain="comb")
            self._m.d.comb += [port.addr.eq(node), entry.eq(port.data)]
            in_range = node < self.nodes if self.nodes < (1 << self.level) else Const(1)
            self._m.d.comb += occupied.eq(self.occupied.bit_select(node, 1) & in_range)
        return occupied, entry

    def write(self, enable, node, occupied, entry):
        # A shifted mask rather than a bit-select, which would decode every index the node's
        # width can hold (the last level may have fewer nodes).
        mask = Signal(self.nodes, name=f"write_mask{self.level}")
        self._m.d.comb += mask.eq(1 << node)
        with self._m.If(enable):
            self._m.d.sync += self.occupied.eq((self.occupied & ~mask) | Mux(occupied, mask, 0))
            if self.nodes == 1:
                self._m.d.sync += self._register.eq(entry)
        if self.nodes > 1:
            self._m.d.comb += [self._write.en.eq(enable), self._write.addr.eq(node),
                               self._write.data.eq(entry)]


class PipelinedHeap(wiring.Component):
    """A min-priority queue of ``capacity`` entries that accepts one operation every other cycle.

    The entries form a binary tree of ``levels = capacity.bit_length()`` levels, level ``l``
    holding up to ``2**l`` nodes (the last level only as many as ``capacity`` needs). As in
    Bhagwan and Lin's P-heap (INFOCOM 2000), every operation walks the tree top-down, one level
    per cycle, each level being its own memory served by its own pipeline stage, and nodes may be
    empty anywhere provided their subtree is empty too. (A single-node level is a register; the
    occupied flags and the free-node counters are registers, so reset empties the heap. The
    memories are read asynchronously, as register files: an SRAM with registered reads would
    need one more stage per level.)

    * INSERT keeps the smaller of its entry and the node's, and carries the larger on into the
      child subtree with more free nodes (each node counts the free nodes of its two child
      subtrees, so an insertion never needs to know where the heap ends).
    * EXTRACT and REPLACE return the root and sift a hole (EXTRACT) or the new entry (REPLACE)
      down: at each node the smaller child moves up unless the carried entry is no larger. A
      hole whose children are both empty leaves the node empty.

    Hazards. A stage writes only its own level. An accepted operation is registered first and
    reaches the root in the next cycle, and a new one is accepted only after that (``busy``), so
    two operations in flight are always at least two levels apart and nothing is forwarded
    between them. The sift's compare needs the two children of the node; they are fetched a
    cycle ahead: the stage above reads the four grandchildren of its node (one pair of which
    are the children the operation will meet) and registers them, taking the entry the stage
    two levels down is writing in that cycle in place of the stale read, and the same for
    their occupied flags. The stage then has its node's entry and flag (passed down by the
    stage above) and its children's in registers, and a cycle's logic is one
    compare-and-select of three entries whatever the number of levels or the width of a level
    (no choice of a flag by the node in series with it). Bhagwan and Lin pay for this the
    same way: one operation every other cycle.

    Order and ties: entries are ordered by ``key``, then by ``payload`` (both unsigned);
    entries equal in both are interchangeable. Python's ``heapq`` on ``(key, payload)`` tuples
    gives exactly the same results. REPLACE returns the minimum before its entry is added
    (``heapq.heapreplace``).

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is a register,
    stable until the transfer. ``i.ready`` depends on ``i.payload.op`` and registers, never on
    ``i.valid``: it is low while ``busy`` (the cycle after an accepted operation); otherwise
    INSERT is accepted when the heap is not ``full``, EXTRACT and REPLACE when it is not
    ``empty`` and ``o`` can take the result (so an EXTRACT offered on an empty heap waits).
    Throughput: one operation every two cycles whatever the mix; latency: a result leaves on
    ``o`` one cycle after its operation. ``count``, ``empty`` and ``full`` include every accepted
    operation from the next cycle on; ``min`` once ``busy`` is low again (two cycles after). (The
    unused ``op`` encoding 3 acts as REPLACE.)

    Parameters
    ----------
    capacity : int
        Most entries held at once (1 to 4095).
    key_bits : int
        Width of the unsigned key (1 to 64).
    payload_bits : int
        Width of the opaque unsigned payload (1 to 64), second in the order.

    Members
    -------
    i : ``In(stream.Signature(operation_layout))``
    o : ``Out(stream.Signature(entry_layout))``
        The entry each EXTRACT or REPLACE removed, one cycle after the operation.
    min : ``Out(entry_layout)``
        The current minimum (the root), meaningful when neither ``empty`` nor ``busy``: what the
        next EXTRACT or REPLACE will return, so a consumer can decide on it before operating
        (the K-merger does).
    busy : ``Out(1)``
        An accepted operation has not reached the root yet: ``min`` is stale, ``i.ready`` low.
    count, empty, full : ``Out``
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named alias wires that its logic bypasses: "
                        "members of memory ports (port__addr$32), copies of named nodes (left0, "
                        "own0, write3_entry, write_mask0) and constant temporaries ($12); the "
                        "heap has no unused signal",
    }

    def __init__(self, *, capacity, key_bits, payload_bits):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("capacity", capacity, 1, 4095)
        check_int("key_bits", key_bits, 1, 64)
        check_int("payload_bits", payload_bits, 1, 64)
        self._MustUse__silence = False
        self._capacity = capacity
        self.levels = capacity.bit_length()
        self.entry_layout = entry_layout(key_bits=key_bits, payload_bits=payload_bits)
        self.operation_layout = operation_layout(key_bits=key_bits, payload_bits=payload_bits)
        super().__init__({
            "i": In(stream.Signature(self.operation_layout)),
            "o": Out(stream.Signature(self.entry_layout)),
            "min": Out(self.entry_layout),
            "busy": Out(1),
            "count": Out(unsigned(bits_for(capacity + 1))),
            "empty": Out(1),
            "full": Out(1),
        })

    def _nodes(self, level):
        """Nodes that exist at ``level``: all ``2**level`` but on the last level."""
        return min(1 << level, self._capacity - ((1 << level) - 1))

    def _subtree_size(self, level, node):
        """Existing nodes in the subtree rooted at ``node`` of ``level``."""
        size, first, width = 0, node, 1
        for depth in range(level, self.levels):
            size += max(0, min(width, self._nodes(depth) - first))
            first, width = first * 2, width * 2
        return size

    def _free_counters(self, m, level, node):
        """Registers counting the free nodes of the two child subtrees of every node of
        ``level`` (reset to the subtree sizes: the heap starts empty), and those of ``node``.

        One register per node, read through a multiplexer and written through a decoded
        enable: a variable-offset slice of one wide register would be rewritten as a whole for
        every possible offset, quadratic in the level's width."""
        nodes = self._nodes(level)
        sizes = [(self._subtree_size(level + 1, 2 * n), self._subtree_size(level + 1, 2 * n + 1))
                 for n in range(nodes)]
        width = bits_for(max(max(pair) for pair in sizes) + 1)
        # A child subtree of no existing node (past a short last level) never has a free one.
        free = [[Signal(width, name=f"free_{side}{level}_{n}", init=pair[s]) if pair[s]
                 else Const(0, width) for n, pair in enumerate(sizes)]
                for s, side in enumerate(("left", "right"))]
        here = []
        for side, name in enumerate(("left", "right")):
            if not any(isinstance(counter, Signal) for counter in free[side]):
                here.append(None)  # no node of this level has a child on this side
                continue
            here.append(Signal(width, name=f"{name}{level}_free"))
            m.d.comb += here[side].eq(Array(free[side])[node] if nodes > 1 else free[side][0])
        return free, here

    def elaborate(self, platform):
        m = Module()
        levels, layout = self.levels, self.entry_layout
        store = [_Level(m, level, self._nodes(level), layout) for level in range(levels)]
        # Every node's state, for the invariants of the formal view (tb/formal_heap.py).
        self.formal_state = dict(levels=store, free=[])

        # The operation each stage holds: stage 0's is the registered input, stage l > 0 takes
        # it from stage l - 1's registers.
        op_layout = data.StructLayout({"what": 2, "carries": 1, "entry": layout})
        stage_op = [Signal(op_layout, name=f"op{level}") for level in range(levels)]
        stage_node = [Const(0, 1)] + [Signal(level, name=f"node{level}")
                                      for level in range(1, levels)]
        stage_own = [None] + [Signal(layout, name=f"own{level}") for level in range(1, levels)]
        stage_own_occupied = [None] + [Signal(name=f"own{level}_occupied")
                                       for level in range(1, levels)]

        accept = Signal()
        o_free = self.o.ready | ~self.o.valid
        request = self.i.payload
        m.d.comb += self.busy.eq(stage_op[0].what != _IDLE)
        m.d.comb += self.i.ready.eq(~self.busy & Mux(request.op == HeapOp.INSERT, ~self.full,
                                                     ~self.empty & o_free))
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        m.d.sync += stage_op[0].what.eq(Mux(accept, Mux(request.op == HeapOp.INSERT, _INSERT,
                                                        _SIFT), _IDLE))
        with m.If(accept):
            m.d.sync += [
                stage_op[0].carries.eq(request.op != HeapOp.EXTRACT),
                stage_op[0].entry.key.eq(request.key),
                stage_op[0].entry.payload.eq(request.payload),
            ]

        # What each stage writes to its own node this cycle.
        write = [dict(enable=Signal(name=f"write{level}"),
                      occupied=Signal(name=f"write{level}_occupied"),
                      entry=Signal(layout, name=f"write{level}_entry"))
                 for level in range(levels)]

        def prefetch(parent, level, go_right):
            """The children that the operation at node ``parent`` of ``level - 2`` meets at
            ``level - 1`` next cycle: its four grandchildren are read now and the pair below
            the child it goes to (``go_right``) is registered, with their occupied flags. A
            node the stage at ``level`` is writing now is registered as written."""
            pair = []
            for side in range(2):
                fetched = Signal(layout, name=f"fetched{level}_{side}", attrs={"keep": 1})
                fetched_occupied = Signal(name=f"fetched{level}_{side}_occupied")
                reads, flags = [], []
                for j in (side, side + 2):
                    if j >= store[level].nodes:  # a short last level: no such node, empty
                        reads.append(Const(0, layout.size))
                        flags.append(Const(0))
                        continue
                    # Wide enough for a node past a short last level, which must read empty.
                    index = Signal(level, name=f"fetch{level}_{j}")
                    m.d.comb += index.eq(parent * 4 + j)
                    occupied, entry = store[level].read(index, f"fetch{level}_{j}_entry")
                    stale = write[level]["enable"] & (stage_node[level] == index)
                    # Kept apart: Yosys would otherwise merge the two reads behind `go_right`
                    # into one port addressed through it, putting the read after the compare.
                    read = Signal(layout, name=f"fetch{level}_{j}_read", attrs={"keep": 1})
                    flag = Signal(name=f"fetch{level}_{j}_occupied")
                    m.d.comb += [read.eq(Mux(stale, write[level]["entry"], entry)),
                                 flag.eq(Mux(stale, write[level]["occupied"], occupied))]
                    reads.append(read)
                    flags.append(flag)
                m.d.sync += [fetched.eq(Mux(go_right, reads[1], reads[0])),
                             fetched_occupied.eq(Mux(go_right, flags[1], flags[0]))]
                pair.append((fetched_occupied, fetched))
            return pair

        # Stage 0's children are fetched in the cycle its operation is accepted.
        fetched = [prefetch(Const(0, 1), 1, Const(0)) if levels > 1 else []]
        for level in range(levels):
            op, node, out = stage_op[level], stage_node[level], write[level]
            carried = op.entry
            m.d.comb += out["enable"].eq((op.what == _INSERT) | (op.what == _SIFT))
            if level == 0:
                own_occupied, own = store[0].read(node, "own0")
                m.d.comb += self.min.eq(own)  # the root
            elif level < levels - 1:
                # The node, as the stage above read it (nothing has written it since).
                own_occupied, own = stage_own_occupied[level], stage_own[level]
            if level == levels - 1:
                # The last level: an insertion always finds its node empty (the counters above
                # guarantee it) and a sift has no children, so the carried entry (or the hole)
                # stays.
                m.d.comb += [out["occupied"].eq((op.what == _INSERT) | op.carries),
                             out["entry"].eq(carried)]
                store[level].write(out["enable"], node, out["occupied"], out["entry"])
                break

            left_index, right_index = (Signal(level + 1, name=f"{side}{level}")
                                       for side in ("left", "right"))
            m.d.comb += [left_index.eq(node * 2), right_index.eq(node * 2 + 1)]
            # The children and their occupied flags, fetched a cycle ahead by the stage above
            # (nothing has written them since).
            children = []
            for side in range(2):
                name = ("left", "right")[side]
                occupied = Signal(name=f"{name}{level}_entry_occupied")
                child = Signal(layout, name=f"{name}{level}_entry")
                m.d.comb += [occupied.eq(fetched[level][side][0]),
                             child.eq(fetched[level][side][1])]
                children.append((occupied, child))
            (left_occupied, left), (right_occupied, right) = children
            free, (free_left, free_right) = self._free_counters(m, level, node)
            self.formal_state["free"].append(free)
            if free_right is None:  # no node of this level has a right child
                insert_right, free_right = Const(0), Const(0, len(free_left))
            else:
                # Whether each node's right subtree is the freer, registered: a node's counters
                # change only when an operation passes it, and the next comes two cycles later.
                nodes = len(free[0])
                start = [[c.init if isinstance(c, Signal) else c.value for c in side]
                         for side in free]  # the subtree sizes
                prefers = Signal(nodes, name=f"prefers_right{level}", init=sum(
                    1 << n for n in range(nodes) if start[1][n] > start[0][n]))
                m.d.sync += prefers.eq(Cat(free[1][n] > free[0][n] for n in range(nodes)))
                insert_right = prefers.bit_select(node, 1) if nodes > 1 else prefers[0]

            # Sifting: the smaller child moves up unless the carried entry is no larger. The
            # three comparisons run side by side, so a cycle holds one comparator's depth.
            take_right, smaller = Signal(name=f"take_right{level}"), Signal(
                layout, name=f"smaller{level}")
            below_left, below_right = (Signal(name=f"below_{side}{level}")
                                       for side in ("left", "right"))
            m.d.comb += [
                take_right.eq(right_occupied & (~left_occupied
                                                | (right.as_value() < left.as_value()))),
                smaller.eq(Mux(take_right, right, left)),
                below_left.eq(carried.as_value() <= left.as_value()),
                below_right.eq(carried.as_value() <= right.as_value()),
            ]
            settles = Signal(name=f"settles{level}")
            m.d.comb += settles.eq(~(left_occupied | right_occupied)
                                   | (op.carries & Mux(take_right, below_right, below_left)))

            # Inserting: an empty node takes the entry; a full one keeps the smaller and passes
            # the larger to the child subtree with more free nodes.
            keep_carried = Signal(name=f"keep_carried{level}")
            m.d.comb += keep_carried.eq(~own_occupied | (carried.as_value() < own.as_value()))

            inserting = op.what == _INSERT
            descend, go_right = Signal(name=f"descend{level}"), Signal(name=f"go_right{level}")
            m.d.comb += [
                out["occupied"].eq(inserting | ~settles | op.carries),
                out["entry"].eq(Mux(inserting, Mux(keep_carried, carried, own),
                                    Mux(settles, carried, smaller))),
                descend.eq(Mux(inserting, own_occupied, (op.what == _SIFT) & ~settles)),
                go_right.eq(Mux(inserting, insert_right, take_right)),
            ]
            store[level].write(out["enable"], node, out["occupied"], out["entry"])
            if level + 2 < levels:
                fetched.append(prefetch(node, level + 2, go_right))

            # An insertion takes a free node of the subtree it enters; a hole leaves one.
            # (A hole descends exactly when the node has a child: no comparison in the way.)
            recounts = Signal(name=f"recounts{level}")
            m.d.comb += recounts.eq(Mux(inserting, own_occupied, (op.what == _SIFT) & ~op.carries
                                        & (left_occupied | right_occupied)))
            recount = Signal(len(free[0]), name=f"recount{level}")
            m.d.comb += recount.eq(Mux(recounts, 1 << node, 0))
            # Both sides' new counts are ready before the sift decides which one to write.
            recounted = [Signal.like(free_left, name=f"recounted_{side}{level}")
                         for side in ("left", "right")]
            m.d.comb += [recounted[0].eq(free_left + Mux(inserting, -1, 1)),
                         recounted[1].eq(free_right + Mux(inserting, -1, 1))]
            for n in range(len(free[0])):
                for side, counter in enumerate((free[0][n], free[1][n])):
                    if isinstance(counter, Signal):
                        with m.If(recount[n] & (go_right == side)):
                            m.d.sync += counter.eq(recounted[side])
            m.d.sync += [
                stage_op[level + 1].what.eq(Mux(descend, op.what, _IDLE)),
                stage_op[level + 1].carries.eq(op.carries),
                stage_op[level + 1].entry.eq(Mux(inserting & keep_carried, own, carried)),
                stage_node[level + 1].eq(Mux(go_right, right_index, left_index)),
                stage_own[level + 1].eq(Mux(go_right, right, left)),
                stage_own_occupied[level + 1].eq(Mux(go_right, right_occupied, left_occupied)),
            ]

        with m.If(accept & (request.op != HeapOp.INSERT)):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(self.min)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(accept & (request.op == HeapOp.INSERT)):
            m.d.sync += self.count.eq(self.count + 1)
        with m.Elif(accept & (request.op == HeapOp.EXTRACT)):
            m.d.sync += self.count.eq(self.count - 1)
        m.d.comb += [self.empty.eq(self.count == 0), self.full.eq(self.count == self._capacity)]
        return m
