"""Priority encoding: the lowest set bit of a vector, as a tree of named nodes."""

from amaranth import Cat, Const, Mux, Signal

__all__ = ["first_set"]


def first_set(m, bits, *, name):
    """``(found, index)`` of the lowest set bit among ``bits`` (a sequence of 1-bit values).

    A log-depth tree of two-way choices whose nodes are named signals (``{name}_l{level}_{n}``),
    added to ``m``'s combinational domain: an unnamed node would be emitted again in every
    expression that reads it, and each node is read twice.
    """
    level = [(bit, Const(0, 0)) for bit in bits]
    depth = 0
    while len(level) > 1:
        paired = []
        for pair, (low, high) in enumerate(zip(level[0::2], level[1::2], strict=False)):
            found = Signal(name=f"{name}_found_l{depth + 1}_{pair}")
            index = Signal(depth + 1, name=f"{name}_index_l{depth + 1}_{pair}")
            m.d.comb += [found.eq(low[0] | high[0]),
                         index.eq(Mux(low[0], Cat(low[1], Const(0, 1)),
                                      Cat(high[1], Const(1, 1))))]
            paired.append((found, index))
        if len(level) % 2:
            found, index = level[-1]
            paired.append((found, Cat(index, Const(0, 1))))
        level = paired
        depth += 1
    found, index = level[0]
    return found, index if len(index) else Const(0, 1)
