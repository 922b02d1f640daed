"""The filter buffer: the CSF filter fibers of a layer, fetched `macs_per_pe` weights a cycle."""

from dataclasses import dataclass

from amaranth import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics

__all__ = ["FilterBuffer", "FilterImage", "pack_filter_fibers", "storage_words",
           "weight_layout", "pointer_layout", "fiber_span"]


def weight_layout(*, numerics, max_kernel, max_channels):
    """One compressed weight of a filter fiber: coordinates ``r, k, s`` and its value."""
    return data.StructLayout({
        "r": unsigned(bits_for(max_kernel)),
        "k": unsigned(bits_for(max_channels)),
        "s": unsigned(bits_for(max_kernel)),
        "value": signed(numerics.weight_bits),
    })


def pointer_layout(*, words, max_kernel):
    """Where the fiber of one input channel sits, per filter row ``j``: ``first[j]``, the first
    word holding a weight of a row ``>= j``, and ``last[j]``, one past the last word holding a
    weight of a row ``<= j`` (word addresses, up to ``words``)."""
    bound = data.ArrayLayout(unsigned(bits_for(words + 1)), max_kernel)  # 0 .. words
    return data.StructLayout({"first": bound, "last": bound})


def fiber_span(pointer, lo, hi):
    """The words a lane feeding filter rows ``lo .. hi`` walks: ``(start, count)``. Every weight
    of those rows lies in them; words between hold other rows' weights too, which the lane
    skips."""
    start = pointer["first"][lo]
    return start, max(0, pointer["last"][hi] - start)


def _fiber_pointer(words, base, max_kernel):
    """The pointer (:func:`pointer_layout`) of a fiber packed into ``words`` from ``base``."""
    end = base + len(words)
    first, last = [end] * max_kernel, [base] * max_kernel
    for index, word in enumerate(words, start=base):
        for weight in word:
            for j in range(max_kernel):
                if j <= weight["r"]:
                    first[j] = min(first[j], index)
                if j >= weight["r"]:
                    last[j] = max(last[j], index + 1)
    return {"first": first, "last": last}


@dataclass(frozen=True)
class FilterImage:
    """The filter buffer contents of one layer, as the loader writes them.

    Members
    -------
    words : list of list of dict
        Word ``a`` of the buffer: ``macs_per_pe`` weights ``{r, k, s, value}``, ``value`` 0 in
        unused slots.
    pointers : list of dict
        Pointer of input channel ``c``: ``{first, last}`` (:func:`pointer_layout`).
    """

    words: list
    pointers: list


_EMPTY = {"r": 0, "k": 0, "s": 0, "value": 0}


def _bank_aware_words(fiber, macs_per_pe, banks):
    """First-fit packing of one fiber into words in which no two weights of different ``(r, k)``
    share a context bank (``k % banks``), so that no word stalls on a bank conflict."""
    words, claims = [], []  # claims[i]: bank -> (r, k) of word i
    for weight in fiber:
        bank, owner = weight["k"] % banks, (weight["r"], weight["k"])
        for word, claim in zip(words, claims, strict=True):
            if len(word) < macs_per_pe and claim.get(bank, owner) == owner:
                break
        else:
            word, claim = [], {}
            words.append(word)
            claims.append(claim)
        word.append(weight)
        claim[bank] = owner
    return words


def storage_words(fibers, macs_per_pe):
    """Words the fibers take packed in storage order (:func:`pack_filter_fibers` without
    ``banks``), as the block's filter loader writes them."""
    return sum(-(-len(fiber) // macs_per_pe) for fiber in fibers)


def pack_filter_fibers(fibers, *, macs_per_pe, max_kernel, words, banks=None):
    """Lay out the filter fibers (``isos_streams(...).filter_fibers``) in a buffer of ``words``.

    Each fiber occupies whole words, ``macs_per_pe`` weights each, so a fetch of a fiber's
    weights is one word read a cycle; unused slots hold a zero weight (zeros are never real
    weights, so the PE skips them). Without ``banks`` the weights keep their (r, k, s) order and
    only a fiber's last word has empty slots. With ``banks`` (the context array's) they are
    regrouped so that no word holds two weights of different ``(r, k)`` in one bank: the PE then
    never stalls on a bank conflict, for a few more words. Regrouping is exact: the weights of
    one fiber update distinct partial sums, so their order within the fiber changes no partial
    sum's order of accumulation. Each fiber's pointer bounds its words per filter row
    (:func:`pointer_layout`), so a lane walks only the words of the rows it feeds.
    """
    check_int("macs_per_pe", macs_per_pe, 1, 64)
    check_int("max_kernel", max_kernel, 1, 15)
    if banks is not None:
        check_int("banks", banks, 1, 64)
    image_words, pointers = [], []
    for fiber in fibers:
        if banks is None:
            packed = [fiber[first:first + macs_per_pe]
                      for first in range(0, len(fiber), macs_per_pe)]
        else:
            packed = _bank_aware_words(fiber, macs_per_pe, banks)
        pointers.append(_fiber_pointer(packed, len(image_words), max_kernel))
        image_words += [[dict(weight) for weight in word]
                        + [dict(_EMPTY)] * (macs_per_pe - len(word)) for word in packed]
    if len(image_words) > words:
        raise ValueError(
            f"the filter fibers need {len(image_words)} words of {macs_per_pe} weights, more "
            f"than the filter buffer's {words} words"
        )
    return FilterImage(image_words, pointers)


class FilterBuffer(wiring.Component):
    """Filter fibers in wide words, and the pointer of each input channel's fiber.

    Word ``a`` holds ``macs_per_pe`` weights (:func:`weight_layout`), so one read gives the
    vector a coarse-grain PE consumes in a cycle; a zero weight marks an empty slot. Fibers
    occupy whole words (:func:`pack_filter_fibers`); the pointer table bounds each channel's
    words per filter row (:func:`pointer_layout`). Both memories are loaded through write
    ports and read through synchronous read ports (data one cycle after the address, held while
    ``en`` is low).

    Parameters
    ----------
    numerics : Numerics
        ``weight_bits`` sets the weight width.
    macs_per_pe : int
        Weights per word (1 to 64).
    max_kernel : int
        Largest filter height/width ``R``, ``S`` (1 to 15).
    max_channels : int
        Largest channel count ``C`` or ``K`` (1 to 4096): pointer table depth and ``k`` width.
    words : int
        Depth of the weight memory (1 to 2**20).

    Members
    -------
    filter_write : ``Out(WritePort.Signature)``
        Loads weight word ``addr``.
    pointer_write : ``Out(WritePort.Signature)``
        Loads the pointer of channel ``addr``.
    filter_read, pointer_read : ``Out(ReadPort.Signature)``
        The fetch side.
    """

    def __init__(self, *, numerics=DEFAULT_NUMERICS, macs_per_pe, max_kernel, max_channels,
                 words):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("macs_per_pe", macs_per_pe, 1, 64)
        check_int("max_kernel", max_kernel, 1, 15)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("words", words, 1, 1 << 20)
        self._MustUse__silence = False
        self._macs_per_pe, self._max_channels, self._words = macs_per_pe, max_channels, words
        self.weight_layout = weight_layout(numerics=numerics, max_kernel=max_kernel,
                                           max_channels=max_channels)
        self.word_layout = data.ArrayLayout(self.weight_layout, macs_per_pe)
        self.pointer_layout = pointer_layout(words=words, max_kernel=max_kernel)
        word_addr, channel_addr = ceil_log2(words), ceil_log2(max_channels)
        super().__init__({
            "filter_write": Out(WritePort.Signature(addr_width=word_addr, shape=self.word_layout)),
            "pointer_write": Out(WritePort.Signature(addr_width=channel_addr,
                                                     shape=self.pointer_layout)),
            "filter_read": Out(ReadPort.Signature(addr_width=word_addr, shape=self.word_layout)),
            "pointer_read": Out(ReadPort.Signature(addr_width=channel_addr,
                                                   shape=self.pointer_layout)),
        })

    @property
    def words(self):
        """Filter words it holds."""
        return self._words

    @property
    def nbytes(self):
        """Storage of both memories, in bytes."""
        bits = self._words * self.word_layout.size + self._max_channels * self.pointer_layout.size
        return (bits + 7) // 8

    def elaborate(self, platform):
        m = Module()
        for name, depth, shape in (("filter", self._words, self.word_layout),
                                   ("pointer", self._max_channels, self.pointer_layout)):
            memory = m.submodules[f"{name}_memory"] = Memory(shape=shape, depth=depth, init=[])
            write, read = memory.write_port(), memory.read_port()
            wiring.connect(m, wiring.flipped(getattr(self, f"{name}_write")), write)
            wiring.connect(m, wiring.flipped(getattr(self, f"{name}_read")), read)
        return m
