"""What a cocotb bench checked: the random cases it drew, by unit, and the tokens it compared.

A bench counts a case where it draws one (``case("layers")``: a layer, a row, a table, a
request, whatever it draws); :func:`isosceles.tb.streams.check_tokens` counts every token it
compares with the golden model, by stream, so no bench can forget to. The counts of one
simulation are written to its run folder at every update, so a run that fails still tells
what it had checked; the harness prints them as one line, ``[isosceles.tb] checked: {...}``,
which ``scripts/soak.py`` sums over runs.
"""

import json
import os
from pathlib import Path

from isosceles.tb.harness import CHECKED_FILE, CONTEXT_ENV

__all__ = ["case", "tokens", "counts"]

_counts = {"cases": {}, "tokens": {}}


def case(unit, count=1):
    """Count ``count`` random cases of ``unit`` ("layers", "rows", "tables", ...) drawn."""
    _add("cases", unit, count)


def tokens(stream, count):
    """Count ``count`` tokens of ``stream`` found equal to the golden model's."""
    _add("tokens", stream, count)


def counts():
    """The counts of this simulation so far: ``{"cases": {unit: n}, "tokens": {stream: n}}``."""
    return {kind: dict(table) for kind, table in _counts.items()}


def _add(kind, name, count):
    if not isinstance(name, str) or not name:
        raise ValueError(f"checked {kind} need a name, not {name!r}; name the unit or stream")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"checked {kind} of {name!r}: count must be an integer >= 0, not "
                         f"{count!r}")
    _counts[kind][name] = _counts[kind].get(name, 0) + count
    # Written through: a simulation may end on a failure, with no later moment to save at.
    if CONTEXT_ENV in os.environ:
        (Path(os.environ[CONTEXT_ENV]).parent / CHECKED_FILE).write_text(json.dumps(counts()))
