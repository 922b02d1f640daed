"""Formal view of the pipelined heap: node invariants, the root, and what the heap holds."""

from amaranth import Cat, Const, Signal

from isosceles.hw.heap import HeapOp, PipelinedHeap
from isosceles.tb.formal import FormalView, any_const, mutant

__all__ = ["HeapView", "make_views", "broken_views"]


def _no_larger(a, b):
    """Entry ``a`` comes no later than ``b`` in the heap's order: by key, then by payload."""
    return (a.key < b.key) | ((a.key == b.key) & (a.payload <= b.payload))


class HeapView(FormalView):
    """A heap of narrow entries (2-bit keys, 1-bit payloads) under any operation sequence.

    Every cycle: an occupied node's parent is occupied and no larger; the root is no larger than
    any node and is ``min``; no operation is accepted while ``busy``, which follows every
    accepted one; when not ``busy``, the root is occupied exactly when the heap is not
    ``empty``; a result is the ``min`` of the cycle its operation was accepted in. Once the
    pipeline has drained (no operation accepted for ``levels + 1`` cycles, so every accepted one
    has passed the input register and written its last node): ``count`` is the number of
    occupied nodes, ``full`` means all are; each free-node counter is the number of free nodes
    of its subtree; and for any one entry value, the nodes holding it are exactly as many as the
    operations added minus those that removed it.
    """

    def unit_module(self, platform):
        # The view reads every node, through read ports it adds before the memories elaborate.
        module = self.unit.elaborate(platform)
        self.unit._MustUse__silence = True  # elaborated here, not through Fragment.get
        return module

    def properties(self, m, props, unit):
        state = unit.formal_state
        nodes = []  # per level: (occupied, entry) of every node
        for level, store in enumerate(state["levels"]):
            nodes.append([store.read(Const(n, max(1, level)), f"formal{level}_{n}")
                          for n in range(store.nodes)])
        flat = [node for level in nodes for node in level]
        capacity = len(flat)

        for level in range(1, len(nodes)):
            for n, (occupied, entry) in enumerate(nodes[level]):
                parent_occupied, parent = nodes[level - 1][n // 2]
                props.check(f"node {level}.{n}: parent occupied", parent_occupied,
                            when=occupied)
                props.check(f"node {level}.{n}: parent no larger", _no_larger(parent, entry),
                            when=occupied)
        root_occupied, root = nodes[0][0]
        for level, row in enumerate(nodes):
            for n, (occupied, entry) in enumerate(row):
                props.check(f"root no larger than node {level}.{n}", _no_larger(root, entry),
                            when=occupied)
        props.check("min is the root", unit.min.as_value() == root.as_value(),
                    when=root_occupied)
        props.check("root occupied exactly when not empty", root_occupied == ~unit.empty,
                    when=~unit.busy)

        accept = unit.i.valid & unit.i.ready
        props.check("nothing accepted while busy", ~accept, when=unit.busy)
        props.check("busy after an accepted operation", unit.busy, when=props.past(accept))
        op = unit.i.payload.op.as_value()  # as bits: a mutant's module has its own HeapOp
        removes = accept & (op != HeapOp.INSERT.value)
        result = props.past(unit.min.as_value(), name="result")
        props.check("a result is the min when its operation was accepted",
                    unit.o.valid & (unit.o.payload.as_value() == result), when=props.past(removes))

        recent = Signal(unit.levels + 1)  # accepted in each of the last `levels + 1` cycles
        m.d.sync += recent.eq(Cat(accept, recent[:-1]))
        quiet = recent == 0
        occupied = sum(node[0] for node in flat)
        props.check("drained: count is the occupied nodes", occupied == unit.count, when=quiet)
        props.check("drained: full exactly when every node is occupied",
                    unit.full == (occupied == capacity), when=quiet)
        for level, sides in enumerate(state["free"]):
            for side, counters in zip(("left", "right"), sides, strict=True):
                for n, counter in enumerate(counters):
                    child = 2 * n + (side == "right")
                    free = _free_nodes(nodes, level + 1, child)
                    if isinstance(counter, Signal):
                        props.check(f"drained: free {side} of node {level}.{n} counts its "
                                    f"subtree", counter == free, when=quiet)

        value = any_const(len(root.as_value()))
        added = accept & (op != HeapOp.EXTRACT.value) & (Cat(unit.i.payload.payload,
                                                       unit.i.payload.key) == value)
        removed = removes & (unit.min.as_value() == value)
        held = Signal(range(-capacity - 2, capacity + 2), name="value_held")
        m.d.sync += held.eq(held + added - removed)
        holding = sum((node[0] & (node[1].as_value() == value)) for node in flat)
        props.check("drained: the nodes hold every entry added and not removed",
                    holding == held, when=quiet)

        was_full = Signal()
        m.d.sync += was_full.eq(was_full | unit.full)
        props.cover("full", unit.full)
        if capacity <= 3:  # deeper, for more nodes, than the checks can afford
            props.cover("full, drained", unit.full & quiet)
            props.cover("empty again after full, drained", was_full & unit.empty & quiet)
        props.cover("REPLACE on a full heap", accept & unit.full & (op == HeapOp.REPLACE.value))
        props.cover("EXTRACT waits on an empty heap",
                    unit.i.valid & (op == HeapOp.EXTRACT.value) & unit.empty & ~unit.i.ready)


def _free_nodes(nodes, level, node):
    """Unoccupied nodes of the subtree rooted at ``node`` of ``level``."""
    if level >= len(nodes) or node >= len(nodes[level]):
        return Const(0, 1)
    return (~nodes[level][node][0] + _free_nodes(nodes, level + 1, 2 * node)
            + _free_nodes(nodes, level + 1, 2 * node + 1))


def _heap(cls=PipelinedHeap, capacity=3):
    return cls(capacity=capacity, key_bits=2, payload_bits=1)


class InsertsWhenFullHeap(PipelinedHeap):
    """Broken: takes an INSERT whatever its count (``ready`` ignores ``full``)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.i.payload.op == HeapOp.INSERT):
            m.d.comb += self.i.ready.eq(~self.busy)
        return m


LargerChildHeap = mutant(
    PipelinedHeap, "(right.as_value() < left.as_value())", "(right.as_value() > left.as_value())",
    name="LargerChildHeap")
FullerSubtreeHeap = mutant(
    PipelinedHeap, "free[1][n] > free[0][n]", "free[1][n] < free[0][n]",
    name="FullerSubtreeHeap")

KeepsBothHeap = mutant(
    PipelinedHeap, "stage_op[level + 1].entry.eq(Mux(inserting & keep_carried, own, carried))",
    "stage_op[level + 1].entry.eq(Mux(inserting & keep_carried, carried, own))",
    name="KeepsBothHeap")


def make_views():
    # 3: a full two-level tree, deep enough to fill and drain (an operation every other cycle);
    # 6: a short last level.
    return [HeapView(_heap(capacity=3), depth=15, tag="3"),
            HeapView(_heap(capacity=6), depth=14, tag="6"),
            HeapView(_heap(capacity=3), depth=19, tag="3-deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (HeapView(_heap(InsertsWhenFullHeap), depth=14),
         ("drained: count is the occupied nodes", "root occupied exactly when not empty")),
        (HeapView(_heap(LargerChildHeap), depth=14), "parent no larger"),
        (HeapView(_heap(FullerSubtreeHeap, capacity=6), depth=14, tag="6"),
         "counts its subtree"),
        (HeapView(_heap(KeepsBothHeap), depth=14),
         "drained: the nodes hold every entry added and not removed"),
    ]


