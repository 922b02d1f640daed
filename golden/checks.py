"""Input validation shared by the golden model's entry points: every error names its argument."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["check_int", "check_power_of_two", "check_tensor", "check_conv_arguments",
           "ConvGeometry", "IntRange", "PositiveNumber", "ranged", "check_ranged",
           "ranged_fields"]


def check_int(name, value, low, high=None):
    """ValueError naming ``name`` unless ``value`` is an integer in ``low .. high`` (inclusive;
    no upper bound when ``high`` is None). Booleans are not integers here."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
        high is not None and value > high
    ):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, not {value!r}")


@dataclass(frozen=True)
class IntRange:
    """The allowed values of an integer field, declared once for its check and its documentation.

    Parameters
    ----------
    unit : str
        What the number counts (``"bits"``, ``"bytes"``, ``"lanes"``...).
    low, high : int
        Inclusive bounds (``high`` None: no upper bound).
    low_rule : tuple of (str, callable), optional
        A lower bound that depends on sibling fields: its text and ``fn(obj) -> int``; the larger
        of it and ``low`` applies.
    """

    unit: str
    low: int
    high: int | None = None
    low_rule: tuple[str, Callable] | None = None

    def bounds(self, obj):
        low = self.low if self.low_rule is None else max(self.low, self.low_rule[1](obj))
        return low, self.high

    def describe(self, obj):
        low, high = self.bounds(obj)
        text = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        return text + (f" (at least {self.low_rule[0]})" if self.low_rule else "")

    def check(self, name, value, obj):
        check_int(name, value, *self.bounds(obj))


@dataclass(frozen=True)
class PositiveNumber:
    """A finite number above zero (an integer is taken as a number)."""

    unit: str

    def describe(self, obj):
        return "a finite number > 0"

    def check(self, name, value, obj):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be {self.describe(obj)}, not {value!r}")


def ranged(default, rule):
    """A dataclass field whose values ``rule`` (:class:`IntRange`, :class:`PositiveNumber`)
    checks; :func:`check_ranged` applies it."""
    return field(default=default, metadata={"range": rule})


def ranged_fields(cls_or_obj):
    """``{name: rule}`` of the :func:`ranged` fields of a dataclass, in declaration order."""
    return {f.name: f.metadata["range"] for f in fields(cls_or_obj) if "range" in f.metadata}


def check_ranged(obj):
    """ValueError naming the first :func:`ranged` field of ``obj`` outside its range."""
    for name, rule in ranged_fields(obj).items():
        rule.check(name, getattr(obj, name), obj)


def check_power_of_two(name, value, low, high):
    """As :func:`check_int`, and ``value`` must be a power of two."""
    check_int(name, value, low, high)
    if value & (value - 1):
        raise ValueError(f"{name} must be a power of two from {low} to {high}, not {value!r}")


def check_tensor(name, x, *, ndim, bits, form):
    """``x`` as an int64 array; ValueError naming ``name`` and ``form`` if it is not one."""
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array {form}, not dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must be an integer array {form}, not shape {array.shape}")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if array.size and (array.min() < low or array.max() > high):
        raise ValueError(
            f"{name} values must fit {bits}-bit signed integers ({low}..{high}), "
            f"found {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def _pair(name, value, low):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in pair
    ):
        raise ValueError(f"{name} must be an integer >= {low} or a pair of them, not {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class ConvGeometry:
    """Sizes of one convolution: input ``H,W,C``, filter ``R,S``, output ``P,Q,K``."""

    H: int
    W: int
    C: int
    K: int
    R: int
    S: int
    P: int
    Q: int
    stride: int
    ph: int
    pw: int
    groups: int

    @property
    def channels_per_group(self):
        return self.C // self.groups

    @property
    def kernels_per_group(self):
        return self.K // self.groups


def check_conv_arguments(i_shape, f_shape, stride, padding, groups):
    """The geometry of a convolution, or a ValueError naming the bad argument."""
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, not {stride!r}")
    ph, pw = _pair("padding", padding, 0)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, not {groups!r}")
    H, W, C = i_shape
    Cg, R, K, S = f_shape
    if C != Cg * groups:
        raise ValueError(
            f"f must have shape [C/groups, R, K, S] = [{C // groups if C % groups == 0 else '?'}, "
            f"R, K, S] for i with C={C} and groups={groups}, not {list(f_shape)}"
        )
    if K % groups:
        raise ValueError(f"groups={groups} must divide the output channels K={K} of f")
    if not (1 <= R <= 7 and 1 <= S <= 7):
        raise ValueError(f"f's filter height R and width S must be 1..7, not R={R}, S={S}")
    P = (H + 2 * ph - R) // stride + 1
    Q = (W + 2 * pw - S) // stride + 1
    if H + 2 * ph < R or W + 2 * pw < S:
        raise ValueError(
            f"padding={padding!r} leaves the input ({H}x{W}) smaller than the filter ({R}x{S})"
        )
    return ConvGeometry(H, W, C, K, R, S, P, Q, int(stride), ph, pw, int(groups))
