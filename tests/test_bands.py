"""Bands: every output row once, every input row it needs on the lane the interconnect wires."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isosceles.golden.bands import bands
from isosceles.golden.checks import check_conv_arguments


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(1, 9), st.integers(1, 7), st.integers(1, 3), st.integers(0, 3),
       st.integers(1, 12))
def test_bands_cover_every_row_with_its_inputs(H, R, stride, ph, lanes):
    if H + 2 * ph < R or lanes < R:
        return
    g = check_conv_arguments((H, 1, 1), (1, R, 1, 1), stride, (ph, 0), 1)
    plan = bands(g, lanes)
    assert [b.first_row + j for b in plan for j in range(b.rows)] == list(range(g.P))
    for b in plan:
        assert b.lanes_used <= lanes
        for j in range(b.rows):
            p = b.first_row + j
            needed = {r: p * stride + r - ph for r in range(R) if 0 <= p * stride + r - ph < H}
            assert {r: b.input_row(lane) for r, lane in b.sources(j).items()} == needed
        # A lane reads a row only if some output row of the band needs it.
        used = {b.input_row(j * stride + r) for j in range(b.rows) for r in b.sources(j)}
        assert set(b.input_rows().values()) == used


def test_too_few_lanes_is_a_clear_error():
    g = check_conv_arguments((5, 5, 1), (1, 3, 1, 3), 1, 0, 1)
    with pytest.raises(ValueError, match="R=3 needs at least 3 lanes; the block has 2"):
        bands(g, 2)
