"""The IS-OS block's memory image: a layer's tensors and POU table as bytes, and its output back.

The format is specified in ``docs/memory.md``; in short, all values are little-endian, every
region starts on a 64-byte boundary, and

* an activation tensor ``[H, W, C]`` is a row table of ``H`` entries ``{u32 word_offset, u32
  word_count}`` and a word area of 32-bit words: per nonempty column a column word
  ``{31: 1, 15..0: w}`` then its nonzeros in channel order, data words
  ``{31: 0, 27..16: c, 15..0: value}``;
* filters ``[C/groups, R, K, S]`` are a channel table of ``C`` entries and a word area: channel
  ``c``'s fiber (:func:`~isosceles.golden.isos.filter_fibers`) as, per nonempty ``(r, k)``, a
  coordinate word ``{31: 1, 15..12: r, 11..0: k}`` then weight words ``{31: 0, 19..16: s,
  15..0: value}``;
* the POU table is ``K`` 64-bit entries ``{31..0: bias, 55..32: mult, 61..56: shift}``.

Decoding is strict: anything the encoder would not have written (a misplaced or out-of-order
word, a zero or out-of-range value, a set reserved bit, a table entry past its area) raises
:class:`ImageFormatError` naming the tensor, the row or channel, the word and its address.
"""

from dataclasses import dataclass, replace

import numpy as np

from isosceles.golden.bands import bands
from isosceles.golden.checks import check_conv_arguments, check_int, check_tensor
from isosceles.golden.isos import check_max_pool_input, filter_fibers, max_pool_operands
from isosceles.golden.numerics import DEFAULT_NUMERICS, Numerics, check_numerics
from isosceles.golden.pou import PouParams

__all__ = [
    "ALIGN", "MAX_COLUMNS", "MAX_CHANNELS", "MAX_KERNEL", "ImageFormatError", "MemoryImage",
    "Area", "column_word", "data_word", "coordinate_word", "weight_word", "pou_entry",
    "activation_words", "filter_words", "pou_table", "activation_word_count",
    "filter_word_count", "compulsory_bytes", "write_activation", "read_activation",
    "write_filters", "read_filters", "write_pou", "read_pou", "LayerImage",
]

ALIGN = 64             # bytes: every region starts on this boundary
ENTRY_BYTES = 8        # row table, channel table and POU table entries
WORD_BYTES = 4
MAX_COLUMNS = 1 << 16  # W, Q: column field bits 15..0
MAX_CHANNELS = 1 << 12  # C, K: channel field bits 27..16, k field bits 11..0
MAX_KERNEL = 15        # R, S: r field bits 15..12, s field bits 19..16
MAX_WORDS = (1 << 32) - 1  # a word area is addressed by u32 word offsets

_FLAG = np.uint32(1 << 31)
_COLUMN_RESERVED = 0x7FFF_0000
_DATA_RESERVED = 0x7000_0000
_COORD_RESERVED = 0x7FFF_0000
_WEIGHT_RESERVED = 0x7FF0_0000
_POU_RESERVED = 0xC000_0000_0000_0000
# The descriptor's kind of each LayerImage kind.
KINDS = {"conv": 0, "fc": 1, "maxpool": 2, "add": 3}


class ImageFormatError(ValueError):
    """A memory image that does not follow ``docs/memory.md``."""


def _check_limit(field, value, limit, fix):
    if value > limit:
        raise ValueError(f"{field} = {value} is above the memory format's limit of {limit}: {fix}")


def _check_activation_shape(name, shape):
    H, W, C = shape
    _check_limit(f"{name} columns W", W, MAX_COLUMNS,
                 "split the layer into column tiles of at most 65536")
    _check_limit(f"{name} channels C", C, MAX_CHANNELS,
                 "split the channels across layers of at most 4096")


def _check_filter_shape(shape, groups):
    Cg, R, K, S = shape
    check_int("groups", groups, 1)
    _check_limit("filter input channels C", Cg * groups, MAX_CHANNELS,
                 "split the input channels across layers of at most 4096")
    _check_limit("filter output channels K", K, MAX_CHANNELS,
                 "split the output channels across layers of at most 4096")
    _check_limit("filter height R", R, MAX_KERNEL, "decompose the filter into ones of at most 15")
    _check_limit("filter width S", S, MAX_KERNEL, "decompose the filter into ones of at most 15")
    if K % groups:
        raise ValueError(f"groups = {groups} must divide the filter's output channels K = {K}")


def _align(n):
    return -(-n // ALIGN) * ALIGN


# --- Words -------------------------------------------------------------------------------------

def _value_field(value, bits, what):
    low, high = Numerics.signed_range(bits)
    if not low <= value <= high or value == 0:
        raise ValueError(f"{what} must be a nonzero {bits}-bit signed integer, not {value}")
    return value & 0xFFFF


def column_word(w):
    """Column word of column ``w``: bit 31 set, ``w`` in bits 15..0."""
    check_int("column w", w, 0, MAX_COLUMNS - 1)
    return (1 << 31) | w


def data_word(c, value, bits=16):
    """Data word of a nonzero ``value`` (``bits`` signed) in channel ``c``."""
    check_int("channel c", c, 0, MAX_CHANNELS - 1)
    return (c << 16) | _value_field(value, bits, "activation value")


def coordinate_word(r, k):
    """Coordinate word of filter row ``r`` and output channel ``k``."""
    check_int("filter row r", r, 0, MAX_KERNEL - 1)
    check_int("output channel k", k, 0, MAX_CHANNELS - 1)
    return (1 << 31) | (r << 12) | k


def weight_word(s, value, bits=16):
    """Weight word of a nonzero ``value`` (``bits`` signed) at filter column ``s``."""
    check_int("filter column s", s, 0, MAX_KERNEL - 1)
    return (s << 16) | _value_field(value, bits, "weight value")


def pou_entry(bias, mult, shift):
    """One 64-bit POU table entry."""
    check_int("bias", bias, -(1 << 31), (1 << 31) - 1)
    check_int("mult", mult, 0, (1 << 24) - 1)
    check_int("shift", shift, 0, 63)
    return (bias & 0xFFFF_FFFF) | (mult << 32) | (shift << 56)


# --- Encoding (vectorised, no image) -----------------------------------------------------------

def _table_and_words(groups_of_nonzeros, header_words, data_words, entries):
    """Table and words of tensors whose nonzeros, in storage order, carry a table entry index
    and a header key (a header word is written whenever the key or the entry changes)."""
    entry, key = groups_of_nonzeros
    new = np.ones(len(entry), dtype=bool)
    new[1:] = (entry[1:] != entry[:-1]) | (key[1:] != key[:-1])
    # Position of each nonzero's data word: its index plus the headers written up to it.
    data_at = np.arange(len(entry)) + np.cumsum(new)
    words = np.zeros(len(entry) + int(new.sum()), dtype=np.uint32)
    words[data_at] = data_words
    words[data_at[new] - 1] = header_words[new]
    counts = np.bincount(entry, minlength=entries) + np.bincount(entry[new], minlength=entries)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])) if entries else counts
    table = np.stack([offsets, counts], axis=1).astype(np.uint32).reshape(entries, 2)
    return table, words


def activation_words(i, numerics=DEFAULT_NUMERICS):
    """Row table ``[H, 2]`` (word offset, word count) and word area of an activation ``[H, W, C]``,
    rows laid one after another from offset 0."""
    check_numerics(numerics)
    i = check_tensor("activation", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    _check_activation_shape("activation", i.shape)
    h, w, c = np.nonzero(i)  # C order: (h, w, c) ascending, the storage order
    data = (c.astype(np.uint32) << 16) | (i[h, w, c] & 0xFFFF).astype(np.uint32)
    return _table_and_words((h, w), w.astype(np.uint32) | _FLAG, data, i.shape[0])


def filter_words(f, groups=1, numerics=DEFAULT_NUMERICS):
    """Channel table ``[C, 2]`` and word area of filters ``[C/groups, R, K, S]``."""
    check_numerics(numerics)
    f = check_tensor("filters", f, ndim=4, bits=numerics.weight_bits, form="[C/groups, R, K, S]")
    _check_filter_shape(f.shape, groups)
    fibers = filter_fibers(f, groups)
    weights = [(c, w["r"], w["k"], w["s"], w["value"]) for c, fiber in enumerate(fibers)
               for w in fiber]
    c, r, k, s, value = (np.array(column, dtype=np.int64).reshape(-1)
                         for column in (zip(*weights, strict=True) if weights else [()] * 5))
    headers = _FLAG | (r.astype(np.uint32) << 12) | k.astype(np.uint32)
    data = (s.astype(np.uint32) << 16) | (value & 0xFFFF).astype(np.uint32)
    return _table_and_words((c, (r << 12) | k), headers, data, len(fibers))


def pou_table(pou, numerics=DEFAULT_NUMERICS):
    """The ``K`` 64-bit POU table entries of ``pou``, checked against ``numerics``."""
    check_numerics(numerics)
    K = len(pou.bias)
    _check_limit("POU channels K", K, MAX_CHANNELS, "split the output channels into layers")
    PouParams.make(pou.bias, pou.mult, pou.shift, relu=pou.relu, numerics=numerics)
    return np.array([pou_entry(*entry) for entry in zip(pou.bias, pou.mult, pou.shift,
                                                          strict=True)], dtype=np.uint64)


def activation_word_count(x):
    """Words of an activation ``[H, W, C]``: one per nonzero, one per nonempty column."""
    x = np.asarray(x)
    return int(np.count_nonzero(x) + np.count_nonzero(np.any(x, axis=2)))


def filter_word_count(f):
    """Words of filters ``[C/groups, R, K, S]``: one per nonzero, one per nonempty ``(c, r, k)``
    (each weight of ``f`` belongs to exactly one input channel's fiber, whatever the groups)."""
    f = np.asarray(f)
    return int(np.count_nonzero(f) + np.count_nonzero(np.any(f, axis=3)))


def compulsory_bytes(i, f, o, *, groups=1):
    """Compulsory DRAM bytes ``(read, written)`` of a layer with input ``i`` [H, W, C], filters
    ``f`` [C/groups, R, K, S] and output ``o`` [P, Q, K], all as the memory image stores them.

    read = 8 H + 4 (input words) + 8 C + 4 (filter words) + 8 K;
    written = 4 (output words) + 8 P.
    """
    H, C, K, P = np.shape(i)[0], np.shape(f)[0] * groups, np.shape(f)[2], np.shape(o)[0]
    read = (ENTRY_BYTES * H + WORD_BYTES * activation_word_count(i) + ENTRY_BYTES * C
            + WORD_BYTES * filter_word_count(f) + ENTRY_BYTES * K)
    return read, WORD_BYTES * activation_word_count(o) + ENTRY_BYTES * P


# --- The image ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Area:
    """A table and its word area in a memory image.

    Members
    -------
    table : int
        Byte address of the table (``entries`` entries of 8 bytes).
    entries : int
    words : int
        Byte address of the word area; table entries give offsets in words from here.
    area_words : int
        Size of the word area in words; no entry may reach past it.
    """

    table: int
    entries: int
    words: int
    area_words: int


class MemoryImage:
    """A byte image of memory starting at address ``base``, filled by a bump allocator that
    starts every region on a 64-byte boundary.

    Members
    -------
    data : bytearray
        The image; byte ``a - base`` holds address ``a``.
    regions : list of (name, address, bytes)
        Every allocation, in order.
    """

    def __init__(self, base=0):
        check_int("base", base, 0)
        if base % ALIGN:
            raise ValueError(f"base must be a multiple of {ALIGN}, not {base:#x}")
        self.base, self.data, self.regions = base, bytearray(), []

    @property
    def end(self):
        return self.base + len(self.data)

    def allocate(self, name, nbytes):
        """Address of a new zeroed region of ``nbytes`` on the next 64-byte boundary."""
        check_int(f"{name} size", nbytes, 0)
        address = self.base + _align(len(self.data))
        self.data.extend(bytes(address + nbytes - self.end))
        self.regions.append((name, address, nbytes))
        return address

    def _span(self, address, nbytes, what):
        start = address - self.base
        if start < 0 or start + nbytes > len(self.data):
            raise ImageFormatError(f"{what}: bytes {address:#x}..{address + nbytes:#x} lie outside "
                                   f"the image {self.base:#x}..{self.end:#x}")
        return start

    def write(self, address, array):
        """Write a uint32 or uint64 array at ``address``, little-endian."""
        array = np.asarray(array)
        if array.dtype not in (np.uint32, np.uint64):
            raise ValueError(f"write takes uint32 or uint64 arrays, not {array.dtype}")
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        start = self._span(address, len(raw), "write")
        self.data[start:start + len(raw)] = raw

    def read(self, address, count, dtype, what):
        """``count`` little-endian values of ``dtype`` (uint32 or uint64) from ``address``."""
        dtype = np.dtype(dtype).newbyteorder("<")
        start = self._span(address, count * dtype.itemsize, what)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start).astype(
            dtype.newbyteorder("="))


def _place(image, name, table, words, area_words=None):
    area_words = len(words) if area_words is None else area_words
    if area_words > MAX_WORDS:
        raise ValueError(f"{name} word area of {area_words} words is above the memory format's "
                         f"limit of {MAX_WORDS} (u32 word offsets): split the layer")
    table_address = image.allocate(f"{name} table", ENTRY_BYTES * len(table))
    words_address = image.allocate(f"{name} words", WORD_BYTES * area_words)
    image.write(table_address, table)
    image.write(words_address, words)
    return Area(table_address, len(table), words_address, area_words)


def write_activation(image, name, i, numerics=DEFAULT_NUMERICS):
    """Encode activation ``i`` [H, W, C] into ``image``; its :class:`Area`."""
    table, words = activation_words(i, numerics)
    return _place(image, name, table, words)


def write_filters(image, name, f, groups=1, numerics=DEFAULT_NUMERICS):
    """Encode filters ``f`` [C/groups, R, K, S] into ``image``; their :class:`Area`."""
    table, words = filter_words(f, groups, numerics)
    return _place(image, name, table, words)


def write_pou(image, name, pou, numerics=DEFAULT_NUMERICS):
    """Write the POU table of ``pou`` into ``image``; its address."""
    entries = pou_table(pou, numerics)
    address = image.allocate(f"{name} table", ENTRY_BYTES * len(entries))
    image.write(address, entries)
    return address


def _entries(image, area, name, unit):
    """The (offset, count) table entries of ``area``, each checked to lie inside the area."""
    table = image.read(area.table, 2 * area.entries, np.uint32, f"{name} table").reshape(-1, 2)
    for index, (offset, count) in enumerate(table.tolist()):
        if offset + count > area.area_words:
            raise ImageFormatError(
                f"{name} {unit} {index}: table entry at {area.table + ENTRY_BYTES * index:#x} "
                f"gives words {offset}..{offset + count} (count {count}), past the word area of "
                f"{area.area_words} words")
    return table


def _decode_fiber(words, where, *, names, header_fields, data_fields, limits, bits, reserved):
    """Decode one row or fiber: ``(header_tuple, data_key, value)`` triples in storage order.

    ``names`` are the header word's, the data word's and the empty header's names;
    ``header_fields``/``data_fields`` are (name, shift, mask) of the header and data words;
    ``limits`` bounds every field; the header tuples must strictly increase, as must the data
    keys within a header.
    """
    header_word, data_word_, empty = names
    out, header, last_key, pending = [], None, None, False
    for index, word in enumerate(words.tolist()):
        def fail(problem, index=index, word=word):
            raise ImageFormatError(f"{where(index)} ({word:#010x}): {problem}")
        if word >> 31:
            if word & reserved[0]:
                fail(f"reserved bits of a {header_word} are set")
            if pending:
                fail(f"{header_word} after a {header_word} with no {data_word_} ({empty} take "
                     "no word)")
            fields = tuple((word >> shift) & mask for _, shift, mask in header_fields)
            for (name, _, _), value in zip(header_fields, fields, strict=True):
                if value >= limits[name]:
                    fail(f"{name} = {value} is out of range 0..{limits[name] - 1}")
            if header is not None and fields <= header:
                fail(f"out of order: {fields} after {header} (must strictly increase)")
            header, last_key, pending = fields, None, True
            continue
        if header is None:
            fail(f"a {data_word_} before any {header_word}")
        if word & reserved[1]:
            fail(f"reserved bits of a {data_word_} are set")
        name, shift, mask = data_fields
        key = (word >> shift) & mask
        if key >= limits[name]:
            fail(f"{name} = {key} is out of range 0..{limits[name] - 1}")
        if last_key is not None and key <= last_key:
            fail(f"{name} {key} after {name} {last_key} (must strictly increase)")
        value = (word & 0xFFFF) - ((word & 0x8000) << 1)
        low, high = Numerics.signed_range(bits)
        if value == 0 or not low <= value <= high:
            fail(f"value {value} is not a nonzero {bits}-bit signed integer")
        out.append((header, key, value))
        last_key, pending = key, False
    if pending:
        raise ImageFormatError(f"{where(len(words) - 1)}: the last {header_word} has no "
                               f"{data_word_} ({empty} take no word)")
    return out


def _word_locator(area, name, unit, index, offset):
    return lambda j: (f"{name} {unit} {index}, word {j} at "
                      f"{area.words + WORD_BYTES * (offset + j):#x}")


def read_activation(image, area, shape, name="activation", numerics=DEFAULT_NUMERICS):
    """Decode the activation ``[H, W, C]`` of ``area`` (its row table and word area) as int64."""
    H, W, C = shape
    if area.entries != H:
        raise ValueError(f"{name}: the area has {area.entries} row table entries, not H = {H}")
    out = np.zeros(shape, dtype=np.int64)
    words = image.read(area.words, area.area_words, np.uint32, f"{name} words")
    for h, (offset, count) in enumerate(_entries(image, area, name, "row").tolist()):
        for (w,), c, value in _decode_fiber(
                words[offset:offset + count], _word_locator(area, name, "row", h, offset),
                names=("column word", "data word", "empty columns"),
                header_fields=(("column w", 0, 0xFFFF),), data_fields=("channel c", 16, 0xFFF),
                limits={"column w": W, "channel c": C}, bits=numerics.act_bits,
                reserved=(_COLUMN_RESERVED, _DATA_RESERVED)):
            out[h, w, c] = value
    return out


def read_filters(image, area, shape, groups=1, name="filters", numerics=DEFAULT_NUMERICS):
    """Decode the filters ``[C/groups, R, K, S]`` of ``area`` as int64."""
    Cg, R, K, S = shape
    if area.entries != Cg * groups:
        raise ValueError(f"{name}: the area has {area.entries} channel table entries, "
                         f"not C = {Cg * groups}")
    out, kg = np.zeros(shape, dtype=np.int64), K // groups
    words = image.read(area.words, area.area_words, np.uint32, f"{name} words")
    for c, (offset, count) in enumerate(_entries(image, area, name, "channel").tolist()):
        where = _word_locator(area, name, "channel", c, offset)
        for index, ((r, k), s, value) in enumerate(_decode_fiber(
                words[offset:offset + count], where,
                names=("coordinate word", "weight word", "empty (r, k)"),
                header_fields=(("filter row r", 12, 0xF), ("output channel k", 0, 0xFFF)),
                data_fields=("filter column s", 16, 0xF),
                limits={"filter row r": R, "output channel k": K, "filter column s": S},
                bits=numerics.weight_bits, reserved=(_COORD_RESERVED, _WEIGHT_RESERVED))):
            if k // kg != c // Cg:
                raise ImageFormatError(f"{where(index)}: output channel k = {k} is not in input "
                                       f"channel {c}'s group {c // Cg}")
            out[c % Cg, r, k, s] = value
    return out


def read_pou(image, address, K, *, relu, numerics=DEFAULT_NUMERICS):
    """Decode the ``K``-entry POU table at ``address`` as :class:`PouParams`."""
    entries = image.read(address, K, np.uint64, "POU table").tolist()
    for k, entry in enumerate(entries):
        if entry & _POU_RESERVED:
            raise ImageFormatError(f"POU table entry {k} at {address + ENTRY_BYTES * k:#x} "
                                   f"({entry:#018x}): reserved bits 63..62 are set")
    bias = [(e & 0xFFFF_FFFF) - ((e & 0x8000_0000) << 1) for e in entries]
    mult = [(e >> 32) & 0xFF_FFFF for e in entries]
    shift = [(e >> 56) & 0x3F for e in entries]
    try:
        return PouParams.make(bias, mult, shift, relu=relu, numerics=numerics)
    except ValueError as error:
        raise ImageFormatError(f"POU table at {address:#x}: {error}") from None


# --- One layer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerImage:
    """One layer laid out in a :class:`MemoryImage`: every address and shape the block's
    descriptor registers are loaded from.

    A fully connected layer over an input ``[H, W, C]`` is stored as filters
    ``[H*W*C, 1, K, 1]`` (one fiber per input element, in ``(h, w, c)`` order) and writes an
    output ``[1, 1, K]``; its descriptor has ``R = S = 1``, stride 1, no padding, one group.
    A residual add reads two inputs ``[H, W, C]`` (``input`` and ``input2``) and writes their
    saturating sum ``[H, W, C]``; it has no filters and no POU table, and its descriptor has
    ``K = C``, ``R = S = 1``, stride 1, no padding, ``P = H``, ``Q = W``.
    A max pooling is stored as the depthwise convolution of :func:`~isosceles.golden.isos.
    max_pool_operands`: unit filters ``[1, R, C, S]`` and an identity POU table; its
    descriptor has ``kind = 2``, ``K = groups = C``.

    Members
    -------
    kind : str
        ``"conv"``, ``"fc"``, ``"maxpool"`` or ``"add"``.
    geometry : ConvGeometry
        Shapes, stride, padding and groups (for ``"fc"``: ``C`` is the input's channels).
    input, filters, output : Area
        (``filters`` None for ``"add"``.)
    pou : int
        Address of the POU table (0 for ``"add"``).
    relu : bool
    row_stride_words : int
        Output row ``p`` is written at word offset ``p * row_stride_words``.
    """

    kind: str
    geometry: object
    input: Area
    filters: Area
    pou: int
    output: Area
    relu: bool
    row_stride_words: int
    numerics: Numerics = DEFAULT_NUMERICS
    input2: Area = None

    @classmethod
    def conv(cls, image, i, f, pou, *, stride=1, padding=0, groups=1, numerics=DEFAULT_NUMERICS,
             input_area=None, row_stride_words=None, name="layer"):
        """Lay out a convolution of ``i`` [H, W, C] by ``f`` [C/groups, R, K, S].

        ``input_area``, when given, is where the input already is (an earlier layer's output
        area): the input is then not written, only checked against the area's shape.
        """
        i, f = np.asarray(i), np.asarray(f)
        g = check_conv_arguments(i.shape, f.shape, stride, padding, groups)
        _check_activation_shape(f"{name} output", (g.P, g.Q, g.K))
        return cls._layout("conv", g, image, i, f, groups, pou, numerics, input_area,
                           row_stride_words, name)

    @classmethod
    def fc(cls, image, x, w, pou, *, numerics=DEFAULT_NUMERICS, input_area=None,
           row_stride_words=None, name="layer"):
        """Lay out a fully connected layer of ``x`` [H, W, C] (read in (h, w, c) order) by
        ``w`` [H*W*C, K]."""
        x, w = np.asarray(x), np.asarray(w)
        if x.ndim != 3 or w.ndim != 2 or w.shape[0] != x.size:
            raise ValueError(f"{name}: fc weights must have shape [H*W*C, K] = [{x.size}, K] "
                             f"for an input {list(x.shape)}, not {list(w.shape)}")
        H, W, C = x.shape
        g = check_conv_arguments((1, 1, x.size), (x.size, 1, w.shape[1], 1), 1, 0, 1)
        g = replace(g, H=H, W=W, C=C)
        return cls._layout("fc", g, image, x, w.reshape(x.size, 1, w.shape[1], 1), 1, pou,
                           numerics, input_area, row_stride_words, name)

    @classmethod
    def maxpool(cls, image, i, *, size, stride=None, padding=0, numerics=DEFAULT_NUMERICS,
                input_area=None, row_stride_words=None, name="layer"):
        """Lay out a max pooling of ``i`` [H, W, C] over ``size`` (``R`` or ``(R, S)``) windows,
        ``stride`` (default ``R``) and ``padding``; ``i`` must have no negative value."""
        i = np.asarray(i)
        R, S = (size, size) if isinstance(size, int) else size
        stride = R if stride is None else stride
        check_max_pool_input(i, name)
        f, pou = max_pool_operands(i.shape[2], R, S, numerics)
        g = check_conv_arguments(i.shape, f.shape, stride, padding, i.shape[2])
        _check_activation_shape(f"{name} output", (g.P, g.Q, g.K))
        return cls._layout("maxpool", g, image, i, f, g.C, pou, numerics, input_area,
                           row_stride_words, name)

    @classmethod
    def add(cls, image, a, b, *, numerics=DEFAULT_NUMERICS, input_area=None, input2_area=None,
            row_stride_words=None, name="layer"):
        """Lay out a residual add of ``a`` and ``b``, both [H, W, C]; ``input_area`` and
        ``input2_area``, when given, are where they already are (as for :meth:`conv`)."""
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim != 3 or a.shape != b.shape:
            raise ValueError(f"{name}: an add's inputs must be [H, W, C] of one shape, not "
                             f"{list(a.shape)} and {list(b.shape)}")
        H, W, C = a.shape
        g = check_conv_arguments(a.shape, (C, 1, C, 1), 1, 0, 1)
        _check_activation_shape(f"{name} output", (H, W, C))
        row_stride_words = cls._row_stride(g, row_stride_words, name)
        first = cls._input(image, a, input_area, g, numerics, name)
        second = cls._input(image, b, input2_area, g, numerics, name, "input2")
        return cls("add", g, first, None, 0, cls._output(image, g, row_stride_words, name),
                   False, row_stride_words, numerics, second)

    @staticmethod
    def _row_stride(g, row_stride_words, name):
        worst = g.Q * (g.K + 1)
        if row_stride_words is None:
            return worst
        check_int(f"{name} row_stride_words", row_stride_words, worst)
        return row_stride_words

    @staticmethod
    def _input(image, i, area, g, numerics, name, field="input"):
        """The :class:`Area` of input ``i`` (``field``): written into ``image``, or ``area``
        (where it already is) once checked against ``i``'s shape."""
        if area is None:
            return write_activation(image, f"{name} {field}", i, numerics)
        activation_words(i, numerics)  # checks the tensor against the format
        if area.entries != g.H:
            raise ValueError(f"{name}: {field}_area has {area.entries} rows, the input "
                             f"H = {g.H}")
        return area

    @staticmethod
    def _output(image, g, row_stride_words, name):
        return _place(image, f"{name} output", np.zeros((g.P, 2), dtype=np.uint32),
                      np.zeros(0, dtype=np.uint32), g.P * row_stride_words)

    @classmethod
    def _layout(cls, kind, g, image, i, f, groups, pou, numerics, input_area, row_stride_words,
                name):
        if len(pou.bias) != g.K:
            raise ValueError(f"{name}: the POU parameters have {len(pou.bias)} channels, "
                             f"the filters K = {g.K}")
        row_stride_words = cls._row_stride(g, row_stride_words, name)
        input_area = cls._input(image, i, input_area, g, numerics, name)
        filters = write_filters(image, f"{name} filters", f, groups, numerics)
        pou_address = write_pou(image, f"{name} POU", pou, numerics)
        output = cls._output(image, g, row_stride_words, name)
        return cls(kind, g, input_area, filters, pou_address, output, pou.relu, row_stride_words,
                   numerics)

    @property
    def output_shape(self):
        return (self.geometry.P, self.geometry.Q, self.geometry.K)

    def descriptor(self):
        """The layer's descriptor fields, by name, in the order ``docs/memory.md`` lists them."""
        g = self.geometry
        filters = self.filters or Area(0, 0, 0, 0)
        second = self.input2 or Area(0, 0, 0, 0)
        return {
            "kind": KINDS[self.kind], "H": g.H, "W": g.W, "C": g.C, "K": g.K,
            "R": g.R, "S": g.S, "P": g.P, "Q": g.Q, "stride": g.stride,
            "pad_h": g.ph, "pad_w": g.pw, "groups": g.groups, "relu": int(self.relu),
            "input_table": self.input.table, "input_words": self.input.words,
            "filter_channels": filters.entries,
            "filter_table": filters.table, "filter_words": filters.words,
            "pou_table": self.pou,
            "output_table": self.output.table, "output_words": self.output.words,
            "output_row_stride": self.row_stride_words,
            "input2_table": second.table, "input2_words": second.words,
        }

    def write_output(self, image, o):
        """Write output ``o`` [P, Q, K] as the block does: row ``p`` at word offset
        ``p * row_stride_words``, then its row table entry."""
        table, words = activation_words(o, self.numerics)
        if tuple(np.shape(o)) != self.output_shape:
            raise ValueError(f"o must have shape {list(self.output_shape)}, not {list(o.shape)}")
        for p, (offset, count) in enumerate(table.tolist()):
            start = p * self.row_stride_words
            image.write(self.output.words + WORD_BYTES * start, words[offset:offset + count])
            image.write(self.output.table + ENTRY_BYTES * p, np.array([start, count], np.uint32))

    def read_output(self, image, name="output"):
        """Decode the output the block wrote, checking each row sits at its row stride."""
        table = _entries(image, self.output, name, "row")
        for p, (offset, count) in enumerate(table.tolist()):
            if offset != p * self.row_stride_words or count > self.row_stride_words:
                raise ImageFormatError(
                    f"{name} row {p}: table entry ({offset}, {count}) must start at word "
                    f"{p * self.row_stride_words} (p * row_stride_words) and hold at most "
                    f"{self.row_stride_words} words")
        return read_activation(image, self.output, self.output_shape, name, self.numerics)

    def compulsory_bytes(self, image):
        """Compulsory DRAM bytes ``(read, written)`` of the layer as the image now holds it
        (the output once written): the tables and the words their entries cover."""
        def words(area, name):
            return WORD_BYTES * int(_entries(image, area, name, "entry")[:, 1].sum())
        if self.kind == "add":
            read = sum(ENTRY_BYTES * area.entries + words(area, name)
                       for area, name in ((self.input, "input"), (self.input2, "input2")))
        else:
            read = (ENTRY_BYTES * self.input.entries + words(self.input, "input")
                    + ENTRY_BYTES * self.filters.entries + words(self.filters, "filters")
                    + ENTRY_BYTES * self.geometry.K)
        return read, words(self.output, "output") + ENTRY_BYTES * self.output.entries

    def band_read_bytes(self, image, lanes):
        """Bytes the block reads running the layer band by band on ``lanes`` lanes
        (:func:`~isosceles.golden.bands.bands`): every input row a band reads costs its table
        entry and its words, once per band that reads it, so an input row in the halo of two
        bands is read twice and one no output row needs is not read. The filters and the POU
        table are read once. Minus the compulsory read bytes, this is the halo's cost. A fully
        connected layer reads every input row once, a residual add every row of both inputs."""
        if self.kind == "add":
            return self.compulsory_bytes(image)[0]
        counts = _entries(image, self.input, "input", "row")[:, 1]
        filters = _entries(image, self.filters, "filters", "channel")[:, 1]
        if self.kind == "fc":
            rows_read = range(self.input.entries)
        else:
            rows_read = [h for band in bands(self.geometry, lanes)
                         for h in band.input_rows().values()]
        return (sum(ENTRY_BYTES + WORD_BYTES * int(counts[h]) for h in rows_read)
                + ENTRY_BYTES * self.filters.entries + WORD_BYTES * int(filters.sum())
                + ENTRY_BYTES * self.geometry.K)
