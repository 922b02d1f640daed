"""How the block tiles a layer's output rows into bands that fit its lanes.

A band is the set of output rows one pass of the block computes: backend lane ``j`` makes output
row ``first_row + j``, and frontend lane ``i`` reads input row ``first_input + i``, so backend
lane ``j`` merges frontend lanes ``j*u .. j*u + R - 1``. A band of ``n`` rows therefore needs
``(n - 1)*u + R`` lanes; input rows shared by two bands (the halo) are read once per band.
"""

from dataclasses import dataclass

from isosceles.golden.checks import check_int

__all__ = ["Band", "bands"]


@dataclass(frozen=True)
class Band:
    """One pass of the block over a layer."""

    first_row: int     # first output row p0
    rows: int          # output rows, one per backend lane
    first_input: int   # input row of frontend lane 0: p0*u - ph (negative: top padding)
    lanes_used: int    # frontend lanes up to the last that feeds an output row: (rows - 1)*u + R
    H: int             # input rows of the layer
    R: int
    stride: int

    def filter_rows(self, lane):
        """The filter rows ``r`` through which frontend lane ``lane`` feeds an output row of
        the band (``lane = j*u + r``, ``j < rows``), whether or not its input row is padding."""
        return [r for r in range(min(self.R, lane + 1))
                if (lane - r) % self.stride == 0 and (lane - r) // self.stride < self.rows]

    def input_row(self, lane):
        """The input row that frontend lane ``lane`` reads, or None (padding, or an input row
        that no output row of the band needs, as between the rows a stride above R skips)."""
        h = self.first_input + lane
        return h if 0 <= h < self.H and self.filter_rows(lane) else None

    def input_rows(self):
        """``{lane: input row}`` of the lanes that read a real input row."""
        return {lane: h for lane in range(self.lanes_used)
                if (h := self.input_row(lane)) is not None}

    def sources(self, row):
        """``{r: lane}`` of the frontend lanes whose substreams backend lane ``row`` merges
        (padding rows left out)."""
        return {r: row * self.stride + r for r in range(self.R)
                if self.input_row(row * self.stride + r) is not None}


def bands(geometry, lanes):
    """The bands of a layer (a :class:`~isosceles.golden.checks.ConvGeometry`) on ``lanes``
    lanes: as many output rows per band as the lanes allow, ``(lanes - R) // u + 1``."""
    check_int("lanes", lanes, 1)
    g = geometry
    if g.R > lanes:
        raise ValueError(f"a filter of height R={g.R} needs at least {g.R} lanes; the block has "
                         f"{lanes}: raise lanes or split the filter")
    per_band = min((lanes - g.R) // g.stride + 1, lanes)
    return [Band(first_row=p0, rows=min(per_band, g.P - p0), first_input=p0 * g.stride - g.ph,
                 lanes_used=(min(per_band, g.P - p0) - 1) * g.stride + g.R, H=g.H, R=g.R,
                 stride=g.stride)
            for p0 in range(0, g.P, per_band)]
