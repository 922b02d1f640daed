"""Run every unit's formal checks and show that each broken variant fails; print one table.

    python scripts/formal.py                   # every unit, every check, every broken variant
    python scripts/formal.py --unit heap --json reports/formal.json

A row per run: the unit, what it checks (the view, or the broken variant and the property it
must fail), the mode (bmc: every property to the depth; cover: every cover reached within it),
the depth, the result and the seconds. Exits nonzero unless every check passes and every broken
variant fails on its property.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

from isosceles.tb.formal import UNITS, FormalFailure, check, views


def _run(unit, view, mode, expected=None):
    start = time.monotonic()
    try:
        result = check(view, mode)
    except FormalFailure as failure:
        seconds = time.monotonic() - start
        alternatives = expected if isinstance(expected, tuple) else (expected,)
        if expected is not None and any(name in str(failure) for name in alternatives):
            return dict(result="fails as it must", seconds=seconds, detail=str(failure))
        return dict(result="FAIL", seconds=seconds, detail=str(failure))
    except Exception as error:  # a view that does not build: report it, run the others
        return dict(result="ERROR", seconds=time.monotonic() - start, detail=repr(error))
    seconds = time.monotonic() - start
    if expected is not None:
        return dict(result="PASSES (must fail)", seconds=seconds, detail="")
    if mode == "bmc":
        return dict(result="pass", seconds=seconds, detail=f"{len(result.properties)} properties")
    deepest = max(result.reached.values(), default=0)
    return dict(result="pass", seconds=seconds,
                detail=f"{len(result.properties)} covers, all by step {deepest}")


def _markdown(rows):
    lines = ["| unit | check | mode | depth | result | seconds | |",
             "|---|---|---|---:|---|---:|---|"]
    for row in rows:
        detail = row["detail"] if row["result"] == "pass" else ""
        lines.append(f"| {row['unit']} | {row['check']} | {row['mode']} | {row['depth']} | "
                     f"{row['result']} | {row['seconds']:.1f} | {detail} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unit", action="append", choices=UNITS,
                        help="only this unit (repeatable); default: all")
    parser.add_argument("--no-broken", action="store_true",
                        help="skip the broken variants")
    parser.add_argument("--fast", action="store_true",
                        help="skip the runs marked slow (as CI does)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--markdown", type=Path,
                        help="also write the table in Markdown (as in docs/verification.md)")
    args = parser.parse_args(argv)
    # Views are built up front; those of the runs not chosen are never elaborated.
    warnings.filterwarnings("ignore", category=UnusedElaboratable)

    rows = []
    for unit in args.unit or UNITS:
        good, broken = views(unit)
        runs = [(view, mode, view.name, None) for view in good for mode in view.modes
                if not (args.fast and mode in view.slow)]
        if not args.no_broken:
            runs += [(view, "bmc", f"{view.name} must fail: "
                      f"{' or '.join(expected) if isinstance(expected, tuple) else expected}",
                      expected)
                     for view, expected in broken
                     if not (args.fast and "bmc" in view.slow)]
        for view, mode, what, expected in runs:
            row = dict(unit=unit, check=what, mode=mode, depth=view.depth,
                       **_run(unit, view, mode, expected))
            rows.append(row)
            print(f"{unit:14} {what[:72]:72} {mode:6} {row['depth']:>5} {row['result']:18} "
                  f"{row['seconds']:7.1f}  {row['detail'] if row['result'] == 'pass' else ''}",
                  flush=True)
            if row["result"] not in ("pass", "fails as it must"):
                print(f"    {row['detail']}", flush=True)
    total = sum(row["seconds"] for row in rows)
    bad = [row for row in rows if row["result"] not in ("pass", "fails as it must")]
    print(f"{len(rows)} runs, {len(bad)} wrong, {total:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(_markdown(rows))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
