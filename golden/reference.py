"""Dense reference convolution, by a different algorithm than the IS-OS model.

Padded sliding windows contracted with the filter by ``einsum``, in exact int64: no sparsity, no
streams, no saturation. The IS-OS model must equal it whenever no partial sum saturates.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from isosceles.golden.checks import check_conv_arguments

__all__ = ["dense_conv2d", "effectual_macs"]


def dense_conv2d(i, f, *, stride=1, padding=0, groups=1):
    """Exact ``O[p,q,k]`` of ``i`` [H,W,C] and ``f`` [C/groups,R,K,S] as int64 [P,Q,K]."""
    i, f = np.asarray(i, dtype=np.int64), np.asarray(f, dtype=np.int64)
    g = check_conv_arguments(i.shape, f.shape, stride, padding, groups)
    padded = np.pad(i, ((g.ph, g.ph), (g.pw, g.pw), (0, 0)))
    windows = sliding_window_view(padded, (g.R, g.S), axis=(0, 1))  # [H', W', C, R, S]
    windows = windows[: (g.P - 1) * g.stride + 1 : g.stride, : (g.Q - 1) * g.stride + 1 : g.stride]
    out = np.zeros((g.P, g.Q, g.K), dtype=np.int64)
    cg, kg = g.channels_per_group, g.kernels_per_group
    for group in range(g.groups):
        channels, kernels = slice(group * cg, (group + 1) * cg), slice(group * kg, (group + 1) * kg)
        out[:, :, kernels] = np.einsum("pqcrs,crks->pqk", windows[:, :, channels], f[:, :, kernels])
    return out


def effectual_macs(i, f, stride=1, padding=0, groups=1):
    """Products of a nonzero input and a nonzero weight that reach an output."""
    return int(dense_conv2d((np.asarray(i) != 0).astype(np.int64),
                            (np.asarray(f) != 0).astype(np.int64),
                            stride=stride, padding=padding, groups=groups).sum())
