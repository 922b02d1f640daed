"""Integer semantics shared by the golden model and the RTL.

Every width, rounding and saturation rule of the datapath is declared here once. The golden model
calls these functions; the Amaranth units read their widths from the same :class:`Numerics` object,
so the two cannot drift apart.

Rules
-----
- Activations and weights are signed ``act_bits`` / ``weight_bits`` integers (two's complement).
- A partial sum is a signed ``acc_bits`` integer. Every accumulation step saturates:
  ``acc = sat(acc + product)``. The PE adds the products of one partial sum one at a time, in
  input-stream order (column ``w`` ascending, then channel ``c`` ascending), so the result is
  defined even when saturation happens (saturating addition is not associative).
- The R-merger adds the ``R`` partial sums of one output element exactly and saturates once.
- The POU computes ``y = (x + bias) * mult``, exactly, then a rounding arithmetic right shift by
  ``shift`` that rounds half toward +infinity, ``(y + 2**(shift-1)) >> shift`` (no rounding term
  when ``shift == 0``), then saturates to ``act_bits``, then applies ReLU if enabled.
- Zeros are never stored or sent: every stream carries nonzero values only.
"""

from dataclasses import dataclass

import numpy as np

from isosceles.golden.checks import IntRange, check_ranged, ranged

__all__ = ["Numerics", "DEFAULT_NUMERICS", "check_numerics", "saturate", "requantize"]


@dataclass(frozen=True)
class Numerics:
    """Declared integer widths of the datapath.

    Parameters
    ----------
    act_bits : int
        Width of activations (signed). The paper uses 8.
    weight_bits : int
        Width of weights (signed). The paper uses 8.
    acc_bits : int
        Width of partial sums and of the merged sums T2 (signed, saturating). The paper uses 16.
    bias_bits : int
        Width of the POU's per-channel bias (signed).
    mult_bits : int
        Width of the POU's per-channel requantisation multiplier (unsigned).
    shift_bits : int
        Width of the POU's per-channel right-shift amount (unsigned).
    """

    act_bits: int = ranged(8, IntRange("bits (signed)", 2, 16))
    weight_bits: int = ranged(8, IntRange("bits (signed)", 2, 16))
    # Upper bounds keep (x + bias) * mult inside int64 in the golden model.
    acc_bits: int = ranged(16, IntRange(
        "bits (signed)", 2, 32,
        ("act_bits + weight_bits - 1", lambda n: n.act_bits + n.weight_bits - 1)))
    bias_bits: int = ranged(16, IntRange("bits (signed)", 1, 32))
    mult_bits: int = ranged(16, IntRange("bits (unsigned)", 1, 24))
    shift_bits: int = ranged(5, IntRange("bits (unsigned)", 1, 6))

    def __post_init__(self):
        check_ranged(self)

    @staticmethod
    def signed_range(bits):
        """The inclusive range ``(min, max)`` of a signed ``bits``-wide integer."""
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    @property
    def act_range(self):
        return self.signed_range(self.act_bits)

    @property
    def weight_range(self):
        return self.signed_range(self.weight_bits)

    @property
    def acc_range(self):
        return self.signed_range(self.acc_bits)

    @property
    def bias_range(self):
        return self.signed_range(self.bias_bits)

    @property
    def mult_range(self):
        return 0, (1 << self.mult_bits) - 1

    @property
    def shift_range(self):
        return 0, (1 << self.shift_bits) - 1

    @property
    def pou_product_bits(self):
        """Width of ``(x + bias) * mult``, exact: the POU never overflows before its shift."""
        return max(self.acc_bits, self.bias_bits) + 1 + self.mult_bits + 1


DEFAULT_NUMERICS = Numerics()


def check_numerics(numerics):
    """ValueError unless ``numerics`` is a :class:`Numerics`."""
    if not isinstance(numerics, Numerics):
        raise ValueError(f"numerics must be a Numerics, not {numerics!r}")


def saturate(x, bits):
    """Clamp ``x`` (int or integer array) to the signed ``bits``-wide range."""
    low, high = Numerics.signed_range(bits)
    if isinstance(x, np.ndarray):
        return np.clip(x, low, high)
    return min(max(x, low), high)


def requantize(x, bias, mult, shift, *, relu, numerics=DEFAULT_NUMERICS):
    """The POU's arithmetic on one value or an array (broadcasting), exactly as the RTL does it."""
    y = (np.asarray(x, dtype=np.int64) + np.asarray(bias, dtype=np.int64)) * np.asarray(
        mult, dtype=np.int64
    )
    shift = np.asarray(shift, dtype=np.int64)
    rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    y = np.right_shift(y + rounding, shift)
    y = saturate(y, numerics.act_bits)
    if relu:
        y = np.maximum(y, 0)
    return y
