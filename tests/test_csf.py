"""CSF encode/decode round trips in every rank order of the IS-OS tensors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isosceles.golden.csf import RANK_ORDERS, csf_decode, csf_encode


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(RANK_ORDERS)), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_round_trip(tensor, seed, density):
    rng = np.random.default_rng(seed)
    ranks = RANK_ORDERS[tensor]
    shape = tuple(rng.integers(1, 6, len(ranks)))
    dense = rng.integers(-128, 128, shape) * (rng.random(shape) < density)
    csf = csf_encode(dense, ranks)
    assert csf.nnz == np.count_nonzero(dense)
    assert np.array_equal(csf_decode(csf), dense)
    # Every fiber is sorted and nonempty: pointers strictly increase.
    for pointers in csf.pointers:
        assert (np.diff(pointers) > 0).all()


def test_layout_and_size():
    dense = np.zeros((2, 3, 4), dtype=np.int64)
    dense[0, 1, 2], dense[0, 1, 3], dense[1, 0, 0] = 5, -6, 7
    csf = csf_encode(dense, RANK_ORDERS["I"])
    assert [c.tolist() for c in csf.coords] == [[0, 1], [1, 0], [2, 3, 0]]
    assert [p.tolist() for p in csf.pointers] == [[0, 1, 2], [0, 2, 3]]
    assert csf.values.tolist() == [5, -6, 7]
    # 3 values * 8 + 7 coordinates * 4 + 6 pointers * 8 bits = 100 bits -> 13 bytes
    assert csf.nbytes(value_bits=8, coord_bits=4, pointer_bits=8) == 13


def test_empty_tensor():
    csf = csf_encode(np.zeros((3, 2, 2)), RANK_ORDERS["T2"])
    assert csf.nnz == 0 and np.array_equal(csf_decode(csf), np.zeros((3, 2, 2)))


def test_rank_mismatch_is_named():
    with pytest.raises(ValueError, match="dense must have one axis per rank"):
        csf_encode(np.zeros((2, 2)), RANK_ORDERS["I"])
