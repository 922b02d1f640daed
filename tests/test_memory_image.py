"""The memory image: exact round trips, region sizes, hand-checked words, strict decoding."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isosceles.golden import conv2d
from isosceles.golden.layers import fully_connected
from isosceles.golden.memory_image import (
    ALIGN,
    Area,
    ImageFormatError,
    LayerImage,
    MemoryImage,
    activation_word_count,
    activation_words,
    column_word,
    compulsory_bytes,
    coordinate_word,
    data_word,
    filter_word_count,
    filter_words,
    pou_entry,
    read_activation,
    read_filters,
    read_pou,
    weight_word,
    write_activation,
    write_filters,
    write_pou,
)
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams, pou_dense

WIDE = Numerics(act_bits=16, weight_bits=16, acc_bits=32)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "memory.md"


def sparse(rng, shape, density, bits):
    """Random nonzero-or-zero integers of ``bits``, with whole rows and columns zeroed at times."""
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)
    x = rng.integers(low, high, shape) * (rng.random(shape) < density)
    for axis in range(min(2, len(shape))):
        if rng.random() < 0.4 and shape[axis]:
            index = [slice(None)] * len(shape)
            index[axis] = rng.integers(0, shape[axis])
            x[tuple(index)] = 0
    return x


def check_regions(image):
    """Every region is 64-byte aligned and none overlaps the next."""
    ends = image.base
    for name, address, nbytes in image.regions:
        assert address % ALIGN == 0 and address >= ends, name
        ends = address + nbytes


# --- Round trips -------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.05, 0.5, 1.0]) | st.floats(0, 1),
       st.booleans())
def test_activation_round_trip(seed, density, wide):
    rng = np.random.default_rng(seed)
    numerics = WIDE if wide else Numerics()
    shape = tuple(int(n) for n in rng.integers(1, 9, 3)) if rng.random() < 0.9 else (1, 1, 1)
    i = sparse(rng, shape, density, numerics.act_bits)
    image = MemoryImage(base=ALIGN * int(rng.integers(0, 4)))
    area = write_activation(image, "i", i, numerics)
    check_regions(image)
    assert np.array_equal(read_activation(image, area, shape, numerics=numerics), i)
    # Region sizes are what the format says: 8 bytes a row, one word a nonzero and a column.
    assert image.regions[0][2] == 8 * shape[0]
    assert image.regions[1][2] == 4 * activation_word_count(i)
    table, _ = activation_words(i, numerics)
    per_row = [np.count_nonzero(i[h]) + np.count_nonzero(i[h].any(axis=1)) for h in range(shape[0])]
    assert table[:, 1].tolist() == per_row
    assert table[:, 0].tolist() == np.concatenate(([0], np.cumsum(per_row)[:-1])).tolist()


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.1, 0.6, 1.0]) | st.floats(0, 1))
def test_filter_round_trip(seed, density):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, kg = (1, 1) if rng.random() < 0.3 else tuple(int(n) for n in rng.integers(1, 4, 2))
    shape = (cg, int(rng.integers(1, 16)), kg * groups, int(rng.integers(1, 16)))
    f = sparse(rng, shape, density, 8)
    image = MemoryImage()
    area = write_filters(image, "f", f, groups)
    assert np.array_equal(read_filters(image, area, shape, groups), f)
    assert image.regions[0][2] == 8 * cg * groups
    assert image.regions[1][2] == 4 * filter_word_count(f)
    check_regions(image)


def test_filter_words_follow_the_golden_fibers():
    # Two groups: channel 1 (group 1) holds only k = 2, 3; its fiber is in (r, k, s) order.
    f = np.zeros((1, 2, 4, 2), dtype=np.int64)
    f[0, 1, 3, 0], f[0, 0, 2, 1], f[0, 0, 2, 0], f[0, 1, 0, 1] = 4, -5, 6, 7
    table, words = filter_words(f, groups=2)
    assert table.tolist() == [[0, 2], [2, 5]]
    assert words.tolist() == [
        coordinate_word(1, 0), weight_word(1, 7),                      # channel 0
        coordinate_word(0, 2), weight_word(0, 6), weight_word(1, -5),  # channel 1
        coordinate_word(1, 3), weight_word(0, 4)]


def test_pou_round_trip():
    numerics = Numerics(bias_bits=32, mult_bits=24, shift_bits=6)
    pou = PouParams.make([-(1 << 31), (1 << 31) - 1, 0, -7], [(1 << 24) - 1, 0, 1, 300],
                         [63, 0, 5, 9], relu=False, numerics=numerics)
    image = MemoryImage()
    address = write_pou(image, "pou", pou, numerics)
    assert image.regions == [("pou table", address, 32)]
    assert read_pou(image, address, 4, relu=False, numerics=numerics) == pou


# --- Hand-written words ------------------------------------------------------------------------

def test_words_bit_by_bit():
    assert column_word(5) == 0x8000_0005
    assert column_word(65535) == 0x8000_FFFF
    assert data_word(3, -2) == 0x0003_FFFE
    assert data_word(4095, 127) == 0x0FFF_007F
    assert coordinate_word(2, 7) == 0x8000_2007
    assert coordinate_word(14, 4095) == 0x8000_EFFF
    assert weight_word(1, -128) == 0x0001_FF80
    assert weight_word(14, 1) == 0x000E_0001
    assert pou_entry(-3, 0x123456, 9) == 0x0912_3456_FFFF_FFFD
    assert pou_entry(5, 0, 63) == 0x3F00_0000_0000_0005


def test_bytes_of_a_small_activation_are_little_endian():
    i = np.zeros((2, 3, 2), dtype=np.int64)
    i[0, 2, 0], i[0, 2, 1] = -1, 2
    image = MemoryImage()
    area = write_activation(image, "i", i)
    assert area == Area(table=0, entries=2, words=64, area_words=3)
    assert bytes(image.data[:16]).hex() == "00000000" "03000000" "03000000" "00000000"
    assert bytes(image.data[64:76]).hex() == "02000080" "ffff0000" "02000100"


def docs_example():
    """The worked example of docs/memory.md: its tensor and its bytes."""
    text = DOCS.read_text()
    row = re.search(r"<!-- example-row: (.*) -->", text).group(1)
    hex_block = re.search(r"<!-- example-bytes -->\n```\n(.*?)```", text, re.S).group(1)
    return eval(row), "".join(re.findall(r"\b[0-9a-f]{2}\b", hex_block.split("\n", 1)[1]))


def test_the_documented_example_is_what_the_encoder_writes():
    nonzeros, hex_bytes = docs_example()
    i = np.zeros((1, 8, 4), dtype=np.int64)
    for (w, c), value in nonzeros.items():
        i[0, w, c] = value
    table, words = activation_words(i)
    encoded = table.astype("<u4").tobytes() + words.astype("<u4").tobytes()
    assert encoded.hex() == hex_bytes


# --- Strict decoding ---------------------------------------------------------------------------

def corrupt(words, entries=None, shape=(1, 4, 4)):
    """Decode an activation whose row 0 is ``words`` (table entries ``entries``)."""
    image = MemoryImage()
    words = np.array(words, dtype=np.uint32)
    entries = [[0, len(words)]] if entries is None else entries
    table = image.allocate("table", 8 * len(entries))
    image.write(table, np.array(entries, dtype=np.uint32))
    area = Area(table, len(entries), image.allocate("words", 4 * len(words)), len(words))
    image.write(area.words, words)
    return read_activation(image, area, (len(entries),) + shape[1:])


@pytest.mark.parametrize("words, message", [
    ([0x0000_0005], r"row 0, word 0 at 0x40 \(0x00000005\): a data word before any column word"),
    ([0x8000_0002, 0x0000_0001, 0x8000_0001, 0x0000_0001],
     r"word 2 at 0x48 .*out of order: \(1,\) after \(2,\)"),
    ([0x8000_0002, 0x0000_0001, 0x8000_0002, 0x0000_0001], r"word 2 .*out of order"),
    ([0x8000_0001, 0x0002_0001, 0x0001_0001], r"word 2 .*channel c 1 after channel c 2"),
    ([0x8000_0001, 0x0000_0000], r"word 1 .*value 0 is not a nonzero 8-bit"),
    ([0x8000_0001, 0x0000_0080], r"value 128 is not a nonzero 8-bit"),
    ([0x8000_0001, 0x0000_FF7F], r"value -129 is not a nonzero 8-bit"),
    ([0x8000_0001, 0x0004_0001], r"channel c = 4 is out of range 0..3"),
    ([0x8000_0004, 0x0000_0001], r"column w = 4 is out of range 0..3"),
    ([0x8001_0001, 0x0000_0001], r"reserved bits of a column word are set"),
    ([0x8000_0001, 0x1000_0001], r"reserved bits of a data word are set"),
    ([0x8000_0001, 0x8000_0002, 0x0000_0001], r"word 1 .*column word after a column word with no "
                                              r"data word \(empty columns take no word\)"),
    ([0x8000_0001, 0x0000_0001, 0x8000_0002], r"word 2 .*the last column word has no data word"),
])
def test_corrupt_rows_raise(words, message):
    with pytest.raises(ImageFormatError, match=message):
        corrupt(words)


def test_a_count_past_the_area_raises():
    words = [0x8000_0000, 0x0000_0001, 0x8000_0001, 0x0000_0001]
    with pytest.raises(ImageFormatError, match=r"row 1: table entry at 0x8 gives words 2..5 "
                                               r"\(count 3\), past the word area of 4 words"):
        corrupt(words, entries=[[0, 2], [2, 3]])
    assert corrupt(words, entries=[[0, 2], [2, 2]])[1, 1, 0] == 1


def test_a_table_outside_the_image_raises():
    with pytest.raises(ImageFormatError, match=r"x table: bytes 0x40..0x50 lie outside the image"):
        read_activation(MemoryImage(), Area(64, 2, 0, 0), (2, 1, 1), "x")


def test_corrupt_filters_and_pou_raise():
    f = np.zeros((1, 1, 4, 1), dtype=np.int64)
    f[0, 0, 1, 0] = 3
    image = MemoryImage()
    area = write_filters(image, "f", f, groups=2)
    # Move channel 0's weight to k = 3, in the other group.
    image.write(area.words, np.array([coordinate_word(0, 3)], dtype=np.uint32))
    with pytest.raises(ImageFormatError, match="k = 3 is not in input channel 0's group 0"):
        read_filters(image, area, f.shape, groups=2)
    image.write(area.words + 4, np.array([0x0010_0003], dtype=np.uint32))
    with pytest.raises(ImageFormatError, match="reserved bits of a weight word are set"):
        read_filters(image, area, f.shape, groups=2)
    image.write(area.words, np.array([0x0000_0003], dtype=np.uint32))
    with pytest.raises(ImageFormatError, match="a weight word before any coordinate word"):
        read_filters(image, area, f.shape, groups=2)
    pou = image.allocate("pou", 8)
    image.write(pou, np.array([1 << 62], dtype=np.uint64))
    with pytest.raises(ImageFormatError, match="POU table entry 0 .*reserved bits 63..62"):
        read_pou(image, pou, 1, relu=True)
    image.write(pou, np.array([pou_entry(0, 1 << 16, 0)], dtype=np.uint64))
    with pytest.raises(ImageFormatError, match=r"mult values must be in 0..65535"):
        read_pou(image, pou, 1, relu=True)


# --- Field limits ------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: activation_words(np.zeros((1, 65537, 1), dtype=np.int64)),
     "activation columns W = 65537 is above the memory format's limit of 65536: split"),
    (lambda: activation_words(np.zeros((1, 1, 4097), dtype=np.int64)),
     "activation channels C = 4097 is above the memory format's limit of 4096"),
    (lambda: filter_words(np.zeros((1, 16, 1, 1), dtype=np.int64)),
     "filter height R = 16 is above the memory format's limit of 15: decompose"),
    (lambda: filter_words(np.zeros((1, 1, 1, 16), dtype=np.int64)),
     "filter width S = 16 is above the memory format's limit of 15"),
    (lambda: filter_words(np.zeros((1, 1, 4097, 1), dtype=np.int64)),
     "filter output channels K = 4097 is above the memory format's limit of 4096"),
    (lambda: filter_words(np.zeros((2049, 1, 2, 1), dtype=np.int64), groups=2),
     "filter input channels C = 4098 is above the memory format's limit of 4096"),
    (lambda: column_word(65536), "column w must be an integer from 0 to 65535, not 65536"),
    (lambda: data_word(4096, 1), "channel c must be an integer from 0 to 4095, not 4096"),
    (lambda: data_word(0, 0), "activation value must be a nonzero 16-bit signed integer, not 0"),
    (lambda: coordinate_word(15, 0), "filter row r must be an integer from 0 to 14, not 15"),
    (lambda: weight_word(0, 1 << 15), "weight value must be a nonzero 16-bit signed"),
    (lambda: pou_entry(0, 1 << 24, 0), "mult must be an integer from 0 to 16777215"),
    (lambda: pou_entry(0, 0, 64), "shift must be an integer from 0 to 63, not 64"),
    (lambda: pou_entry(1 << 31, 0, 0), "bias must be an integer from -2147483648 to 2147483647"),
    (lambda: activation_words(np.full((1, 1, 1), 128)), "activation values must fit 8-bit"),
])
def test_field_limits_are_checked(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("field, limit", [("act_bits", 16), ("weight_bits", 16),
                                          ("bias_bits", 32), ("mult_bits", 24),
                                          ("shift_bits", 6)])
def test_numerics_cannot_exceed_the_formats_widths(field, limit):
    extra = {"acc_bits": 32} if field in ("act_bits", "weight_bits") else {}
    Numerics(**{field: limit}, **extra)
    with pytest.raises(ValueError, match=field):
        Numerics(**{field: limit + 1}, **extra)


# --- Layers ------------------------------------------------------------------------------------

def random_layer(seed):
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    i = sparse(rng, (5, 6, 4), 0.5, 8)
    f = sparse(rng, (2, 3, 4, 2), 0.4, 8)
    pou = PouParams.make(rng.integers(-50, 50, 4), rng.integers(1, 200, 4),
                         rng.integers(4, 9, 4), relu=True)
    return i, f, pou


def test_conv_layer_layout_round_trip_and_compulsory_bytes():
    i, f, pou = random_layer(11)
    image = MemoryImage(base=0x1000)
    layer = LayerImage.conv(image, i, f, pou, stride=2, padding=(1, 0), groups=2)
    check_regions(image)
    d = layer.descriptor()
    assert {k: d[k] for k in ("H", "W", "C", "K", "R", "S", "P", "Q", "stride", "pad_h", "pad_w",
                              "groups", "relu", "kind", "filter_channels")} == dict(
        H=5, W=6, C=4, K=4, R=3, S=2, P=3, Q=3, stride=2, pad_h=1, pad_w=0, groups=2, relu=1,
        kind=0, filter_channels=4)
    assert d["input_table"] == 0x1000 and d["output_row_stride"] == 3 * (4 + 1)
    assert all(d[k] % ALIGN == 0 for k in d if k.endswith(("_table", "_words")))
    assert np.array_equal(read_activation(image, layer.input, i.shape), i)
    assert np.array_equal(read_filters(image, layer.filters, f.shape, 2), f)
    assert read_pou(image, layer.pou, 4, relu=True) == pou
    assert image.regions[-1][2] == 4 * 3 * layer.row_stride_words
    o = pou_dense(conv2d(i, f, stride=2, padding=(1, 0), groups=2), pou)
    layer.write_output(image, o)
    assert np.array_equal(layer.read_output(image), o)
    read, written = layer.compulsory_bytes(image)
    assert (read, written) == compulsory_bytes(i, f, o, groups=2)
    assert read == 8 * 5 + 4 * activation_word_count(i) + 8 * 4 + 4 * filter_word_count(f) + 8 * 4
    assert written == 4 * activation_word_count(o) + 8 * 3


def test_output_rows_must_sit_at_the_row_stride():
    i, f, pou = random_layer(12)
    image = MemoryImage()
    layer = LayerImage.conv(image, i, f, pou, groups=2, row_stride_words=40)
    o = pou_dense(conv2d(i, f, groups=2), pou)
    layer.write_output(image, o)
    assert np.array_equal(layer.read_output(image), o)
    image.write(layer.output.table + 8, np.array([41, 0], dtype=np.uint32))
    with pytest.raises(ImageFormatError, match=r"output row 1: table entry \(41, 0\) must start "
                                               r"at word 40 \(p \* row_stride_words\)"):
        layer.read_output(image)
    with pytest.raises(ValueError, match="layer row_stride_words must be an integer >= 25, not 24"):
        LayerImage.conv(MemoryImage(), i, f, pou, groups=2, row_stride_words=24)


def test_fc_layer_is_filters_of_one_fiber_per_input_element():
    rng = np.random.default_rng(5)
    x, w = sparse(rng, (2, 3, 2), 0.6, 8), sparse(rng, (12, 5), 0.5, 8)
    pou = PouParams.make(np.zeros(5, int), np.full(5, 3), np.full(5, 4), relu=False)
    image = MemoryImage()
    layer = LayerImage.fc(image, x, w, pou)
    d = layer.descriptor()
    assert (d["kind"], d["H"], d["W"], d["C"], d["K"], d["P"], d["Q"], d["R"], d["S"],
            d["filter_channels"]) == (1, 2, 3, 2, 5, 1, 1, 1, 1, 12)
    assert np.array_equal(read_filters(image, layer.filters, (12, 1, 5, 1)), w[:, None, :, None])
    o = pou_dense(fully_connected(x.reshape(-1), w), pou)[None, None, :]
    layer.write_output(image, o)
    assert np.array_equal(layer.read_output(image), o)
    assert layer.compulsory_bytes(image) == compulsory_bytes(x, w[:, None, :, None], o)
    with pytest.raises(ValueError, match=r"fc weights must have shape \[H\*W\*C, K\] = \[12, K\]"):
        LayerImage.fc(image, x, w[:11], pou)


def test_max_pooling_is_unit_depthwise_filters_and_an_identity_pou():
    rng = np.random.default_rng(6)
    x = np.abs(sparse(rng, (5, 7, 3), 0.6, 8))
    image = MemoryImage()
    layer = LayerImage.maxpool(image, x, size=(3, 2), stride=2, padding=(1, 1))
    d = layer.descriptor()
    assert (d["kind"], d["C"], d["K"], d["groups"], d["R"], d["S"], d["P"], d["Q"], d["stride"],
            d["relu"]) == (2, 3, 3, 3, 3, 2, 3, 4, 2, 0)
    assert (read_filters(image, layer.filters, (1, 3, 3, 2), groups=3) == 1).all()
    assert filter_word_count(np.ones((1, 3, 3, 2))) == 3 * (3 * 2 + 3)
    pou = read_pou(image, layer.pou, 3, relu=False)
    assert (pou.bias, pou.mult, pou.shift) == ((0,) * 3, (1,) * 3, (0,) * 3)
    assert image.read(layer.pou, 1, np.uint64, "POU")[0] == 0x0000_0001_0000_0000
    x[2, 3, 1] = -4
    with pytest.raises(ValueError, match=re.escape(
            "pool: a max pooling's input must have no negative value, and it has -4 at [h=2, "
            "w=3, c=1] (the block counts an absent activation as zero): put a ReLU before it")):
        LayerImage.maxpool(MemoryImage(), x, size=2, name="pool")


def test_a_layer_reads_the_previous_layers_output_area():
    i, f, pou = random_layer(13)
    image = MemoryImage()
    first = LayerImage.conv(image, i, f, pou, padding=1, groups=2, name="a")
    o = pou_dense(conv2d(i, f, padding=1, groups=2), pou)
    second = LayerImage.conv(image, o, f, pou, groups=2, input_area=first.output, name="b")
    assert second.input == first.output
    assert [name for name, _, _ in image.regions] == [
        "a input table", "a input words", "a filters table", "a filters words", "a POU table",
        "a output table", "a output words", "b filters table", "b filters words", "b POU table",
        "b output table", "b output words"]
    first.write_output(image, o)
    assert second.compulsory_bytes(image)[0] == compulsory_bytes(o, f, o, groups=2)[0]
    with pytest.raises(ValueError, match="b: input_area has 5 rows, the input H = 4"):
        LayerImage.conv(image, o[:4], f, pou, groups=2, input_area=first.output, name="b")


def test_pou_channels_must_match_the_filters():
    i, f, pou = random_layer(14)
    with pytest.raises(ValueError, match="the POU parameters have 4 channels, the filters K = 2"):
        LayerImage.conv(MemoryImage(), i, f[:, :, :2], pou, groups=2)


def test_writes_take_words_or_entries_only():
    image = MemoryImage()
    image.allocate("x", 8)
    with pytest.raises(ValueError, match="write takes uint32 or uint64 arrays, not int64"):
        image.write(0, np.array([1, 2]))
    with pytest.raises(ImageFormatError, match=r"write: bytes 0x4..0xc lie outside the image"):
        image.write(4, np.array([1], dtype=np.uint64))


def test_the_documented_host_code_agrees_with_the_encoder():
    code = re.search(r"Encoding an activation.*?```python\n(.*?)```", DOCS.read_text(), re.S)
    host = {}
    exec(code.group(1), host)
    seed = 7
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    for _ in range(30):
        shape = tuple(int(n) for n in rng.integers(1, 6, 3))
        i = sparse(rng, shape, rng.random(), 8)
        table, words = host["encode_rows"](i.tolist(), *shape)
        expected_table, expected_words = activation_words(i)
        assert table == [tuple(entry) for entry in expected_table.tolist()]
        assert words == expected_words.tolist()
        for h, (offset, count) in enumerate(table):
            assert host["decode_row"](words[offset:offset + count]) == {
                (w, c): int(i[h, w, c]) for w, c in zip(*np.nonzero(i[h]), strict=True)}


def test_an_output_area_past_u32_word_offsets_is_refused():
    i, f, pou = random_layer(15)
    with pytest.raises(ValueError, match=re.escape(
            "layer output word area of 10737418240 words is above the memory format's limit of "
            "4294967295 (u32 word offsets)")):
        LayerImage.conv(MemoryImage(), i, f, pou, padding=1, groups=2, row_stride_words=1 << 31)


def test_residual_add_layout_descriptor_and_compulsory_bytes():
    seed = 16
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    a, b = (sparse(rng, (4, 5, 3), 0.5, 8) for _ in range(2))
    image = MemoryImage(base=128)
    layer = LayerImage.add(image, a, b, name="sum")
    check_regions(image)
    assert [name for name, _, _ in image.regions] == [
        "sum input table", "sum input words", "sum input2 table", "sum input2 words",
        "sum output table", "sum output words"]
    assert np.array_equal(read_activation(image, layer.input2, b.shape), b)
    d = layer.descriptor()
    assert (d["kind"], d["H"], d["W"], d["C"], d["K"], d["R"], d["S"], d["P"], d["Q"],
            d["stride"], d["pad_h"], d["pad_w"], d["relu"]) == (3, 4, 5, 3, 3, 1, 1, 4, 5, 1, 0,
                                                                 0, 0)
    assert (d["filter_channels"], d["filter_table"], d["filter_words"], d["pou_table"]) == (
        0, 0, 0, 0)
    assert (d["input2_table"], d["input2_words"]) == (layer.input2.table, layer.input2.words)
    assert d["output_row_stride"] == 5 * (3 + 1)
    o = np.clip(a + b, -128, 127)
    layer.write_output(image, o)
    assert np.array_equal(layer.read_output(image), o)
    read = sum(8 * 4 + 4 * activation_word_count(x) for x in (a, b))
    assert layer.compulsory_bytes(image) == (read, 8 * 4 + 4 * activation_word_count(o))
    assert layer.band_read_bytes(image, lanes=4) == read


def test_a_residual_add_reads_earlier_output_areas_and_needs_one_shape():
    i, f, pou = random_layer(17)
    image = MemoryImage()
    first = LayerImage.conv(image, i, f, pou, padding=1, groups=2, name="a")
    o = pou_dense(conv2d(i, f, padding=1, groups=2), pou)
    total = LayerImage.add(image, o, o, input_area=first.output, input2_area=first.output,
                           name="s")
    assert total.input == total.input2 == first.output
    assert [name for name, _, _ in image.regions][-2:] == ["s output table", "s output words"]
    with pytest.raises(ValueError, match=re.escape("s: input2_area has 5 rows, the input H = 4")):
        LayerImage.add(image, o[:4], o[:4], input2_area=first.output, name="s")
    with pytest.raises(ValueError, match=re.escape(
            "s: an add's inputs must be [H, W, C] of one shape, not [5, 7, 4] and [5, 7, 3]")):
        LayerImage.add(image, o, o[:, :, :3], name="s")
