"""Functional coverage of a cocotb bench: named bins, each counting the cases that reached it.

A bench declares its bins up front (so a bin never reached shows as 0, not as missing), marks
them as it runs, logs them at its end and saves them in its run folder; the harness prints the
saved bins as one line, ``[isosceles.tb] coverage: {...}``, which ``scripts/soak.py`` sums over
runs.
"""

import json
import os
from pathlib import Path

from isosceles.tb.harness import CONTEXT_ENV, COVERAGE_FILE

__all__ = ["Coverage"]


class Coverage:
    """Hit counts of the bins ``names`` of bench ``bench``.

    Parameters
    ----------
    bench : str
        The bench's name, in the saved report.
    names : iterable of str
        Every bin the bench promises to look for, in report order.
    """

    def __init__(self, bench, names):
        self.bench = bench
        self.bins = dict.fromkeys(names, 0)

    def hit(self, name, reached=True):
        """Count one case in bin ``name`` when ``reached``; a name not declared is an error."""
        if name not in self.bins:
            raise KeyError(f"coverage bin {name!r} is not declared; the bins are "
                           f"{list(self.bins)}")
        self.bins[name] += bool(reached)

    @property
    def missed(self):
        return [name for name, hits in self.bins.items() if not hits]

    def lines(self):
        """The report: one line of totals, one per bin."""
        reached = len(self.bins) - len(self.missed)
        return ([f"coverage of {self.bench}: {reached} of {len(self.bins)} bins reached"]
                + [f"  {name:<24} {hits}" for name, hits in self.bins.items()])

    def save(self):
        """Write the bins into this run's folder, where the harness finds them."""
        path = Path(os.environ[CONTEXT_ENV]).parent / COVERAGE_FILE
        path.write_text(json.dumps({"bench": self.bench, "bins": self.bins}))
