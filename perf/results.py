"""What a performance model returns: one result per pipeline (or layer) and one per network.

Every design (:mod:`isosceles.perf.isosceles_model`, :mod:`isosceles.perf.baselines`) returns
the same :class:`NetworkResult`, so every figure compares like with like.
"""

from dataclasses import dataclass, field

__all__ = ["TRAFFIC_KINDS", "GroupResult", "NetworkResult"]

TRAFFIC_KINDS = ("input", "weights", "output", "partials")


@dataclass
class GroupResult:
    """One pipeline or unpipelined layer of a design.

    ``cycles = max(compute, merger, memory) + overhead`` (the baselines have no merger bound).
    ``buffers`` is what the group occupies on chip, in bytes: for ISOSceles the filter buffer
    (``"filter"``) and, per lane in its fullest band, the context array (``"context"``) and
    the queues (``"queue"``); empty for the baselines. ``boundary`` says why the group starts
    where it does, instead of joining the one before (None for the first group and the
    baselines).
    """

    layers: tuple
    pipelined: bool
    bands: int
    compute_cycles: float
    merger_cycles: float
    memory_cycles: float
    overhead_cycles: float
    macs: float
    traffic: dict
    buffers: dict = field(default_factory=dict)
    boundary: str = None

    @property
    def cycles(self):
        return max(self.compute_cycles, self.merger_cycles, self.memory_cycles) + \
            self.overhead_cycles

    @property
    def bound(self):
        bounds = {"compute": self.compute_cycles, "merger": self.merger_cycles,
                  "memory": self.memory_cycles}
        return max(bounds, key=bounds.get)

    def to_dict(self):
        return {"layers": list(self.layers), "pipelined": self.pipelined, "bands": self.bands,
                "cycles": float(self.cycles), "bound": self.bound,
                "compute_cycles": float(self.compute_cycles),
                "merger_cycles": float(self.merger_cycles),
                "memory_cycles": float(self.memory_cycles),
                "overhead_cycles": float(self.overhead_cycles), "macs": float(self.macs),
                "traffic_bytes": {kind: float(v) for kind, v in self.traffic.items()},
                "buffer_bytes": {kind: float(v) for kind, v in self.buffers.items()},
                "boundary": self.boundary}


@dataclass
class NetworkResult:
    """A design's run of one workload: its groups in order and the totals."""

    design: str
    workload: str
    groups: list
    peak_macs_per_cycle: int
    dram_bytes_per_cycle: float
    compulsory_bytes: float

    @property
    def cycles(self):
        return sum(group.cycles for group in self.groups)

    @property
    def traffic(self):
        return {kind: sum(group.traffic[kind] for group in self.groups)
                for kind in TRAFFIC_KINDS}

    @property
    def traffic_bytes(self):
        return sum(self.traffic.values())

    @property
    def macs(self):
        return sum(group.macs for group in self.groups)

    @property
    def mac_utilization(self):
        return self.macs / (self.cycles * self.peak_macs_per_cycle)

    @property
    def bandwidth_utilization(self):
        return self.traffic_bytes / (self.cycles * self.dram_bytes_per_cycle)

    def to_dict(self):
        return {"design": self.design, "workload": self.workload, "cycles": float(self.cycles),
                "traffic_bytes": {kind: float(v) for kind, v in self.traffic.items()},
                "traffic_total_bytes": float(self.traffic_bytes),
                "compulsory_bytes": float(self.compulsory_bytes), "macs": float(self.macs),
                "mac_utilization": float(self.mac_utilization),
                "bandwidth_utilization": float(self.bandwidth_utilization),
                "groups": [group.to_dict() for group in self.groups]}
