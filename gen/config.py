"""The one configuration object: it drives the RTL, the golden model and the reports.

Variants are made by copying (``dataclasses.replace``), as Gemmini does. Every field is checked at
construction, with a message that names the field and the allowed range, so a bad configuration
fails before anything is elaborated or simulated.
"""

from dataclasses import dataclass, field, replace

from isosceles.golden.checks import check_int
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
    """

    numerics: Numerics = field(default=DEFAULT_NUMERICS)
    lanes: int = 4
    macs_per_pe: int = 8
    pes_per_lane: int = 1
    max_kernel: int = 3
    max_channels: int = 32
    max_columns: int = 16
    filter_buffer_bytes: int = 16 * 1024
    context_bytes: int = 8 * 1024
    queue_bytes: int = 8 * 1024
    kmerger_radix: int = 64
    layers_in_flight: int = 4
    clock_hz: float = 1e9
    dram_bytes_per_cycle: float = 128.0

    def __post_init__(self):
        check_numerics(self.numerics)
        check_int("lanes", self.lanes, 1, 1024)
        check_int("macs_per_pe", self.macs_per_pe, 1, 64)
        check_int("pes_per_lane", self.pes_per_lane, 1, 64)
        check_int("max_kernel", self.max_kernel, 1, 15)
        check_int("max_channels", self.max_channels, 1, 4096)
        check_int("max_columns", self.max_columns, 1, 4096)
        check_int("filter_buffer_bytes", self.filter_buffer_bytes, 1)
        check_int("context_bytes", self.context_bytes, 1)
        check_int("queue_bytes", self.queue_bytes, 1)
        check_int("kmerger_radix", self.kmerger_radix, 2, 256)
        check_int("layers_in_flight", self.layers_in_flight, 1, 16)
        if not self.clock_hz > 0:
            raise ValueError(f"clock_hz must be positive, not {self.clock_hz!r}")
        if not self.dram_bytes_per_cycle > 0:
            raise ValueError(
                f"dram_bytes_per_cycle must be positive, not {self.dram_bytes_per_cycle!r}"
            )

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
