"""The one configuration object: it drives the RTL, the golden model and the reports.

Variants are made by copying (``dataclasses.replace``), as Gemmini does. Every field is checked at
construction, with a message that names the field and the allowed range, so a bad configuration
fails before anything is elaborated or simulated.

On disk a configuration is a TOML file (:meth:`IsoscelesConfig.load`, ``save``): one key per
field, the integer widths in a ``[numerics]`` table, each written with its unit and range as a
comment. A key left out takes its built-in default.
"""

import difflib
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from isosceles.golden.checks import (
    IntRange,
    PositiveNumber,
    check_ranged,
    ranged,
    ranged_fields,
)
from isosceles.golden.numerics import DEFAULT_NUMERICS, Numerics, check_numerics

__all__ = ["IsoscelesConfig", "bits_for"]


def bits_for(count):
    """Width of an unsigned field that holds ``0 .. count - 1`` (at least 1 bit)."""
    return max(1, (count - 1).bit_length())


@dataclass(frozen=True)
class IsoscelesConfig:
    """Parameters of one ISOSceles instance.

    The defaults describe the small instance the RTL is simulated at; :meth:`paper` gives the
    published 64-lane design, which the performance model uses.

    Parameters
    ----------
    numerics : Numerics
        Integer widths shared by the golden model and the RTL.
    lanes : int
        Number of lanes (one activation row each).
    macs_per_pe : int
        Multipliers of one coarse-grain PE: one input times up to this many weights per cycle.
    pes_per_lane : int
        PEs in one lane (``macs_per_pe * pes_per_lane`` MACs per lane).
    max_kernel : int
        Largest filter height/width ``R``, ``S`` the hardware supports.
    max_channels : int
        Largest channel count ``C`` or ``K`` of a layer.
    max_columns : int
        Largest input or output row length ``W`` or ``Q``.
    filter_buffer_bytes : int
        Global filter buffer capacity.
    context_bytes : int
        Per-lane context array (partial sums).
    queue_bytes : int
        Per-lane queue storage.
    kmerger_radix : int
        Streams a K-merger merges (the largest ``K`` one backend lane handles at once).
    layers_in_flight : int
        Layers that time-multiplex one IS-OS block.
    clock_hz : float
        Clock frequency, for the performance model's reports.
    dram_bytes_per_cycle : float
        Off-chip bandwidth per cycle.
    axi_data_width : int
        Data bits of the block's AXI4 master, a power of two.
    """

    numerics: Numerics = field(default=DEFAULT_NUMERICS)
    lanes: int = ranged(4, IntRange("lanes", 1, 1024))
    macs_per_pe: int = ranged(8, IntRange("multipliers", 1, 64))
    pes_per_lane: int = ranged(1, IntRange("PEs", 1, 64))
    max_kernel: int = ranged(4, IntRange("rows or columns of a filter", 1, 15))
    max_channels: int = ranged(32, IntRange("channels", 1, 4096))
    max_columns: int = ranged(16, IntRange("columns", 1, 4096))
    filter_buffer_bytes: int = ranged(16 * 1024, IntRange("bytes", 1))
    context_bytes: int = ranged(8 * 1024, IntRange("bytes per lane", 1))
    queue_bytes: int = ranged(8 * 1024, IntRange("bytes per lane", 1))
    kmerger_radix: int = ranged(64, IntRange("streams", 2, 256))
    layers_in_flight: int = ranged(4, IntRange("layers", 1, 16))
    clock_hz: float = ranged(1e9, PositiveNumber("Hz"))
    dram_bytes_per_cycle: float = ranged(128.0, PositiveNumber("bytes per cycle"))
    axi_data_width: int = ranged(64, IntRange("bits, a power of two", 32, 512))

    def __post_init__(self):
        check_numerics(self.numerics)
        check_ranged(self)
        if self.axi_data_width & (self.axi_data_width - 1):
            raise ValueError(f"axi_data_width must be a power of two from 32 to 512, not "
                             f"{self.axi_data_width}")

    @classmethod
    def paper(cls, **overrides):
        """The published design: 64 lanes x 64 MACs, 1 MB filter buffer, 128 GB/s at 1 GHz."""
        published = dict(
            lanes=64,
            macs_per_pe=8,
            pes_per_lane=8,
            max_kernel=7,
            max_channels=4096,
            max_columns=256,
            filter_buffer_bytes=1024 * 1024,
            context_bytes=8 * 1024,
            queue_bytes=8 * 1024,
            kmerger_radix=256,
            layers_in_flight=16,
            clock_hz=1e9,
            dram_bytes_per_cycle=128.0,
        )
        published.update(overrides)
        return cls(**published)

    @classmethod
    def ulx3s(cls, **overrides):
        """A small instance meant for the ULX3S board's ECP5-85F: 4 lanes of 4 MACs, 3x3 filters,
        16 channels, 32 columns, a radix-16 K-merger, 2 layers in flight, 75 MHz and the board's
        16-bit SDRAM (2 bytes a cycle). Whether the block fits is unmeasured until it exists."""
        board = dict(
            lanes=4,
            macs_per_pe=4,
            pes_per_lane=1,
            max_kernel=3,
            max_channels=16,
            max_columns=32,
            filter_buffer_bytes=4 * 1024,
            context_bytes=512,
            queue_bytes=1024,
            kmerger_radix=16,
            layers_in_flight=2,
            clock_hz=75e6,
            dram_bytes_per_cycle=2.0,
        )
        board.update(overrides)
        return cls(**board)

    @classmethod
    def load(cls, path):
        """The configuration in TOML file ``path``; ValueError naming the file and the bad key."""
        path = Path(path)
        return cls.from_toml(path.read_text(), source=str(path))

    @classmethod
    def from_toml(cls, text, *, source="<string>"):
        """The configuration in TOML ``text``; errors are one line starting with ``source``."""
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{source}: not valid TOML: {error}") from None
        numerics = table.pop("numerics", {})
        if not isinstance(numerics, dict):
            raise ValueError(f"{source}: numerics must be a table ([numerics]), not {numerics!r}")
        try:
            _check_keys(table, ranged_fields(cls), "", numerics_keys=ranged_fields(Numerics))
            _check_keys(numerics, ranged_fields(Numerics), " in [numerics]")
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        try:
            numbers = Numerics(**numerics)
        except ValueError as error:
            raise ValueError(f"{source}: [numerics] {error}") from None
        try:
            return cls(numerics=numbers, **table)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None

    def to_toml(self):
        """This configuration as TOML text, every field written with its unit and range."""
        lines = ["# ISOSceles configuration (isosceles.gen.config.IsoscelesConfig).",
                 "# Every key is optional: one left out takes its built-in default.", ""]
        lines += _toml_lines(self)
        lines += ["", "# Integer widths of the datapath (isosceles.golden.numerics.Numerics).",
                  "[numerics]"]
        lines += _toml_lines(self.numerics)
        return "\n".join(lines) + "\n"

    def save(self, path):
        """Write :meth:`to_toml` to ``path`` atomically."""
        from isosceles.gen.files import atomic_write

        text = self.to_toml().encode()
        atomic_write(path, lambda file: file.write(text))

    def as_dict(self):
        """Every field as plain data (``numerics`` as a dict), as the TOML file holds them."""
        return {f.name: (vars(self.numerics).copy() if f.name == "numerics"
                         else getattr(self, f.name)) for f in fields(self)}

    def replace(self, **changes):
        """A copy with some fields changed (validated like any other)."""
        return replace(self, **changes)

    @property
    def macs_per_lane(self):
        return self.macs_per_pe * self.pes_per_lane

    @property
    def column_bits(self):
        return bits_for(self.max_columns)

    @property
    def channel_bits(self):
        return bits_for(self.max_channels)

    @property
    def kernel_bits(self):
        return bits_for(self.max_kernel)


def _check_keys(table, known, where, numerics_keys=()):
    """ValueError for the first key of ``table`` that is not in ``known``, with a did-you-mean."""
    for key in table:
        if key in known:
            continue
        if key in numerics_keys:
            raise ValueError(f"{key} belongs in the [numerics] table")
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        raise ValueError(f"unknown key {key!r}{where} ({hint})")


def _toml_value(value):
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _toml_lines(obj):
    lines = []
    for name, rule in ranged_fields(obj).items():
        value = getattr(obj, name)
        if isinstance(rule, PositiveNumber):
            value = float(value)
        lines.append(f"{name} = {_toml_value(value)}  # {rule.unit}, {rule.describe(obj)}")
    return lines
