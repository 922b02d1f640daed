"""Memory-side streams of the block's units: read and write requests, and 32-bit words."""

from amaranth import unsigned
from amaranth.lib import data

from isosceles.gen.config import bits_for

__all__ = ["WORD_BITS", "WORD_BYTES", "request_layout"]

WORD_BITS = 32
WORD_BYTES = 4


def request_layout(*, addr_width, max_words):
    """A read or write request: byte address ``addr`` (word-aligned) and ``words``, the number
    of 32-bit words from it (1 to ``max_words``)."""
    return data.StructLayout({
        "addr": unsigned(addr_width),
        "words": unsigned(bits_for(max_words + 1)),
    })
