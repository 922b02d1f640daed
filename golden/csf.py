"""Compressed sparse fiber (CSF) tensors: encode, decode and their size in memory.

A CSF tensor stores, per rank (outermost first), the coordinates of its nonempty fibers and, for
every fiber, a pointer to where its children start; the innermost rank's coordinates sit next to
the nonzero values. The rank orders of the IS-OS tensors are fixed by the dataflow:
``I=[H,W,C]``, ``F=[C,R,K,S]``, ``T1=[H,R,K,Q]``, ``T2=[P,K,Q]``, ``O=[P,Q,K]``.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["RANK_ORDERS", "CsfTensor", "csf_encode", "csf_decode"]

RANK_ORDERS = {
    "I": ("H", "W", "C"),
    "F": ("C", "R", "K", "S"),
    "T1": ("H", "R", "K", "Q"),
    "T2": ("P", "K", "Q"),
    "O": ("P", "Q", "K"),
}


@dataclass
class CsfTensor:
    """A tensor in CSF.

    Members
    -------
    ranks : tuple of str
        Rank names, outermost first.
    shape : tuple of int
        Extent of each rank.
    coords : list of int arrays
        ``coords[l]`` are the coordinates at rank ``l`` of every nonempty fiber, fiber after fiber.
    pointers : list of int arrays
        ``pointers[l]`` (for every rank but the innermost) delimits, for each entry of
        ``coords[l]``, its children in ``coords[l + 1]``.
    values : int array
        The nonzero values, aligned with ``coords[-1]``.
    """

    ranks: tuple
    shape: tuple
    coords: list
    pointers: list
    values: np.ndarray

    @property
    def nnz(self):
        return len(self.values)

    def nbytes(self, *, value_bits, coord_bits, pointer_bits=32):
        """Bytes in memory: values, coordinates and pointers at the declared widths."""
        coords = sum(len(level) for level in self.coords)
        pointers = sum(len(level) for level in self.pointers)
        bits = self.nnz * value_bits + coords * coord_bits + pointers * pointer_bits
        return (bits + 7) // 8


def csf_encode(dense, ranks):
    """The CSF form of ``dense``, whose axes are already in rank order ``ranks``."""
    dense = np.asarray(dense)
    if dense.ndim != len(ranks):
        raise ValueError(f"dense must have one axis per rank of {ranks}, not shape {dense.shape}")
    nonzero = np.nonzero(dense)  # lexicographic in rank order: C order of the array
    points = np.stack(nonzero, axis=1) if dense.ndim else np.zeros((0, 0), dtype=np.int64)
    coords, pointers = [], []
    for level in range(dense.ndim):
        # Entries at this level are the distinct prefixes of length level + 1.
        prefix = points[:, : level + 1]
        new = np.ones(len(prefix), dtype=bool)
        if len(prefix) > 1:
            new[1:] = np.any(prefix[1:] != prefix[:-1], axis=1)
        coords.append(prefix[new, level].astype(np.int64))
        if level:
            # Children of each parent entry start where its prefix first appears.
            parent = points[:, :level]
            starts = np.ones(len(parent), dtype=bool)
            if len(parent) > 1:
                starts[1:] = np.any(parent[1:] != parent[:-1], axis=1)
            child_index = np.cumsum(new) - 1
            begin = child_index[starts]
            pointers.append(np.append(begin, len(coords[-1])).astype(np.int64))
    return CsfTensor(tuple(ranks), dense.shape, coords, pointers,
                     dense[nonzero].astype(np.int64))


def csf_decode(tensor):
    """The dense array of a :class:`CsfTensor`."""
    dense = np.zeros(tensor.shape, dtype=np.int64)
    if tensor.nnz == 0:
        return dense
    # Expand each level's coordinates down to the innermost entries.
    index = [tensor.coords[-1]]
    owner = np.arange(len(tensor.coords[-1]))
    for level in range(len(tensor.shape) - 2, -1, -1):
        bounds = tensor.pointers[level]
        owner = np.searchsorted(bounds, owner, side="right") - 1
        index.insert(0, tensor.coords[level][owner])
    dense[tuple(index)] = tensor.values
    return dense
