"""Bit-exact NumPy models of ISOSceles: the IS-OS dataflow with its token streams, a dense
reference, the other layer types, small networks, and the integer semantics they share with the
RTL."""

from isosceles.golden.isos import conv2d, isos_streams
from isosceles.golden.numerics import DEFAULT_NUMERICS, Numerics
from isosceles.golden.pou import PouParams
from isosceles.golden.reference import dense_conv2d

__all__ = ["conv2d", "isos_streams", "dense_conv2d", "Numerics", "DEFAULT_NUMERICS", "PouParams"]
