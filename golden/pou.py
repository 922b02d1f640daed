"""The post-processing unit (POU): per-channel bias, requantisation, ReLU, on token streams."""

from dataclasses import dataclass

import numpy as np

from isosceles.golden.numerics import DEFAULT_NUMERICS, requantize

__all__ = ["PouParams", "pou_stream", "pou_dense"]


@dataclass(frozen=True)
class PouParams:
    """Per-output-channel parameters: ``y = sat((x + bias) * mult >> shift)``, then ReLU.

    Parameters
    ----------
    bias, mult, shift : integer arrays [K]
        Widths ``numerics.bias_bits`` (signed), ``mult_bits`` and ``shift_bits`` (unsigned).
    relu : bool
    """

    bias: tuple
    mult: tuple
    shift: tuple
    relu: bool = True

    @classmethod
    def make(cls, bias, mult, shift, *, relu=True, numerics=DEFAULT_NUMERICS):
        """Validated parameters from arrays (all of one length K)."""
        arrays = {}
        for name, values, (low, high) in (("bias", bias, numerics.bias_range),
                                          ("mult", mult, numerics.mult_range),
                                          ("shift", shift, numerics.shift_range)):
            array = np.asarray(values)
            if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must be a 1-D integer array [K], not {array!r}")
            if array.size and (array.min() < low or array.max() > high):
                raise ValueError(f"{name} values must be in {low}..{high}")
            arrays[name] = tuple(int(v) for v in array)
        if not len(arrays["bias"]) == len(arrays["mult"]) == len(arrays["shift"]):
            raise ValueError("bias, mult and shift must have the same length K")
        return cls(relu=bool(relu), **arrays)

    def apply(self, x, k, numerics=DEFAULT_NUMERICS):
        return int(requantize(x, self.bias[k], self.mult[k], self.shift[k], relu=self.relu,
                              numerics=numerics))


def pou_stream(stream, params, *, numerics=DEFAULT_NUMERICS):
    """O lane stream from a K-merger lane stream: requantise, drop zeros, add fill channels.

    A channel absent from a column is an exact zero, whose output ``requantize(0, ...)`` may be
    nonzero (a large positive bias): those *fill* channels are emitted too, merged in k order.
    """
    K = len(params.bias)
    fill = {k: params.apply(0, k, numerics) for k in range(K)}
    fill = {k: y for k, y in fill.items() if y}
    out, column = [], {}
    for token in stream:
        if not token["marker"]:
            column[token["k"]] = params.apply(token["value"], token["k"], numerics)
            continue
        for k in sorted(set(column) | set(fill)):
            y = column.get(k, fill.get(k, 0))
            if y:
                out.append({"q": token["q"], "k": k, "value": y, "marker": 0, "last": 0})
        out.append(dict(token))
        column = {}
    return out


def pou_dense(accumulations, params, *, numerics=DEFAULT_NUMERICS):
    """The POU on a dense [..., K] array, for checking the stream version."""
    return requantize(accumulations, np.array(params.bias), np.array(params.mult),
                      np.array(params.shift), relu=params.relu, numerics=numerics)
