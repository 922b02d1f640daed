"""Seed soak of the cocotb benches: every chosen test of ``tb/test_*.py`` under many seeds.

Each bench file runs once per seed as one pytest process with ``ISOSCELES_SEED`` set, so every
random test in it draws that seed; the Verilator builds in ``build/tb`` are keyed by parameters,
not seeds, so only the first run of a configuration builds. The first seed of a bench is a probe:
a test whose run printed that seed, not pinned, follows ``ISOSCELES_SEED`` and runs for every
seed; the others (lint, parameter checks, pinned seeds) ran once there and are reported as such.
After the probes, ``--seeds N`` runs each bench's next N - 1 seeds; ``--minutes N`` draws the
benches' next seeds in turn until N minutes have passed, then lets the runs in flight finish.
Functional coverage that a bench reports (``[isosceles.tb] coverage: {...}``, see
``tb/coverage.py``) is summed over runs, with the bins never reached; so is what it checked
(``[isosceles.tb] checked: {...}``, ``tb/checked.py``): random cases by unit (``layers`` only
from the benches that run whole layers) and tokens compared with the golden model.

    python scripts/soak.py --seeds 20 --jobs 2                   # every bench
    python scripts/soak.py --tests 'pou_loader|fetch' --seeds 50 --first-seed 1000
    python scripts/soak.py --tests 'test_core.py::*golden*' --json reports/soak_core.json
    python scripts/soak.py --exclude 'throughput|lint'  # leave the throughput benches out
    python scripts/soak.py --tests 'stream_buffer|pou_loader' --minutes 3 --jobs 1

Exits 1 when any run failed; each failure is printed with its one-line rerun command.
"""

import argparse
import heapq
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bench files in the order a soak runs them: fast unit and memory-side benches first, core last.
ORDER = ["pou_loader", "filter_loader", "fetch", "writer", "words", "axi_master",
         "axi_registers", "stream_buffer", "pe", "queue", "rmerger", "kmerger", "pou",
         "row_merger", "merge_adder", "core", "calibration", "block", "block_faults"]
NOT_COCOTB = {"formal"}  # tb/test_formal.py runs SymbiYosys, not cocotb
SEED_LINE = re.compile(r"\[isosceles\.tb\] \S+ params=.* seed=(\d+)( \(pinned\))?$", re.M)
COVERAGE_LINE = re.compile(r"\[isosceles\.tb\] coverage: (\{.*\})$", re.M)
CHECKED_LINE = re.compile(r"\[isosceles\.tb\] checked: (\{.*\})$", re.M)


def bench_files(tests_dir):
    """The cocotb bench files under ``tests_dir``, in soak order."""
    files = {path.stem[len("test_"):]: path for path in sorted(tests_dir.glob("test_*.py"))}
    rank = {name: index for index, name in enumerate(ORDER)}
    return [files[name] for name in sorted(set(files) - NOT_COCOTB,
                                           key=lambda name: (rank.get(name, len(ORDER)), name))]


def collect(files):
    """The pytest node ids of ``files`` that pytest selects (``-m 'not slow'`` included)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    if result.returncode not in (0, 5) or not ids and result.returncode:
        raise SystemExit(f"soak: pytest could not collect the benches:\n{result.stdout[-3000:]}")
    return ids


def matches(node, pattern):
    """``pattern``: alternatives split on ``|``, each a substring of the node id or a glob (with
    ``*``, ``?``) of the id with or without its folder."""
    return any(fnmatch(node, part) or fnmatch(node, f"*/{part}") if any(c in part for c in "*?[")
               else part in node for part in pattern.split("|"))


def _first_line(failure):
    """The line that says what went wrong: the last exception line of the simulator's traceback
    excerpt, else the failure's first line."""
    text = (failure.get("message") or "") + "\n" + (failure.text or "")
    excerpt = [line.strip()[1:].strip() for line in text.splitlines()
               if line.strip().startswith("|")]
    for line in reversed(excerpt):
        if re.match(r"[\w.]*(Error|Exception|Failure)\b", line):
            return line
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "failed without a message"


def run_one(bench, nodes, seed, timeout):
    """One pytest process over ``nodes`` of ``bench`` with ``ISOSCELES_SEED=seed``.

    Returns ``{node: {"ok", "seeds", "line", "coverage", "checked"}}`` and the wall time.
    """
    env = dict(os.environ, ISOSCELES_SEED=str(seed))
    env.pop("ISOSCELES_WAVES", None)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={junit}", "-o", "junit_logging=system-out", *nodes]
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            timed_out = True
        wall = time.monotonic() - start
        results = {}
        # junit names a case by its function and parameters, and its file in its own way.
        wanted = {node.rsplit("::", 1)[-1]: node for node in nodes}
        if junit.exists() and not timed_out:
            for case in ElementTree.parse(junit).iter("testcase"):
                node = wanted.get(case.get("name"))
                if node is None:
                    continue
                problem = case.find("failure")
                if problem is None:
                    problem = case.find("error")
                out = case.findtext("system-out") or ""
                results[node] = {
                    "ok": problem is None and case.find("skipped") is None,
                    "skipped": case.find("skipped") is not None,
                    "seeds": [(int(s), bool(pin)) for s, pin in SEED_LINE.findall(out)],
                    "line": None if problem is None else _first_line(problem),
                    "coverage": [json.loads(c) for c in COVERAGE_LINE.findall(out)],
                    "checked": [json.loads(c) for c in CHECKED_LINE.findall(out)],
                }
    for node in nodes:
        if node not in results:  # a crash, a timeout or a collection error: the whole run fails
            tail = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
            reason = f"timed out after {timeout} s" if timed_out else tail[0]
            results[node] = {"ok": False, "skipped": False, "seeds": [], "line": reason,
                             "coverage": [], "checked": []}
    return results, wall


class Soak:
    """Runs (bench, seed) jobs on ``jobs`` threads. Every bench's probe (seed ``first_seed``)
    runs first, in bench order; it shows which of the bench's tests follow the seed, and only
    those run for the later seeds, drawn for the benches in turn, one new seed each: up to
    ``seeds`` seeds per bench (None: no limit), and with ``deadline`` (a time of ``clock``)
    only while the deadline has not passed. Runs in flight at the deadline finish.
    ``runner(bench, nodes, seed, timeout)`` runs one job (:func:`run_one`)."""

    def __init__(self, plan, first_seed, jobs, timeout, log, *, seeds=None, deadline=None,
                 runner=run_one, clock=time.monotonic):
        if seeds is None and deadline is None:
            raise ValueError("a soak needs a number of seeds or a deadline; give --seeds or "
                             "--minutes")
        self.plan, self.first_seed, self.timeout, self.log = plan, first_seed, timeout, log
        self.seeds, self.deadline, self.runner, self.clock = seeds, deadline, runner, clock
        self.queue = [(index, first_seed, bench, nodes)
                      for index, (bench, nodes) in enumerate(plan.items())]
        heapq.heapify(self.queue)
        self.probing = len(self.queue)  # probes not yet recorded
        self.rotation = []  # (bench, seeded nodes) of the benches whose probe is recorded
        self.next_seed, self.turn = {}, 0
        self.lock = threading.Condition()
        self.tests = {}  # node -> {"seeded", "passed", "failed", "pinned"}
        self.coverage, self.checked = [], []
        self.runs = {bench: [] for bench in plan}  # bench -> [{"seed", "wall_s", ...}]
        self.threads = [threading.Thread(target=self._work) for _ in range(jobs)]

    def run(self):
        for thread in self.threads:
            thread.start()
        for thread in self.threads:
            thread.join()

    def _next_job(self):
        """The next (bench, seed, nodes) to run, or None if there is none now; under the lock."""
        if self.queue:
            _, seed, bench, nodes = heapq.heappop(self.queue)
            return bench, seed, nodes
        while self.rotation:
            if self.deadline is not None and self.clock() >= self.deadline:
                self.rotation.clear()
                return None
            self.turn %= len(self.rotation)
            bench, nodes = self.rotation[self.turn]
            seed = self.next_seed[bench]
            if self.seeds is not None and seed >= self.first_seed + self.seeds:
                del self.rotation[self.turn]
                continue
            self.next_seed[bench] += 1
            self.turn += 1
            return bench, seed, nodes
        return None

    def _work(self):
        while True:
            with self.lock:
                while (job := self._next_job()) is None and self.probing:
                    self.lock.wait()
                if job is None:
                    return
            bench, seed, nodes = job
            start = self.clock()
            try:
                results, wall = self.runner(bench, nodes, seed, self.timeout)
            except Exception as error:  # a lost job would leave the other workers waiting
                results, wall = {node: {"ok": False, "skipped": False, "seeds": [],
                                        "line": f"the soak could not run it: {error!r}",
                                        "coverage": [], "checked": []}
                                 for node in nodes}, self.clock() - start
            with self.lock:
                self._record(seed, bench, results, wall)
                self.lock.notify_all()

    def _record(self, seed, bench, results, wall):
        probe = seed == self.first_seed
        failed = []
        cases, tokens = checked_totals(report for result in results.values()
                                       for report in result["checked"])
        for node, result in results.items():
            entry = self.tests.setdefault(node, {"bench": bench, "passed": [], "failed": [],
                                                 "skipped": result["skipped"]})
            if probe:
                entry["seeded"] = (seed, False) in result["seeds"]
                entry["pinned"] = sorted({s for s, pin in result["seeds"] if pin})
            if result["ok"] or result["skipped"]:
                entry["passed"].append(seed)
            else:
                entry["failed"].append({"seed": seed, "line": result["line"],
                                        "rerun": rerun(node, seed)})
                failed.append(node)
            for report in result["coverage"]:
                self.coverage.append({"node": node, "seed": seed, **report})
            for report in result["checked"]:
                self.checked.append({"node": node, "seed": seed, **report})
        self.runs[bench].append({"seed": seed, "probe": probe, "wall_s": round(wall, 1),
                                 "failed": len(failed), "cases": cases,
                                 "tokens": sum(tokens.values())})
        if probe:
            self.probing -= 1
            seeded = [node for node in results if self.tests[node].get("seeded")]
            if seeded:
                self.rotation.append((bench, seeded))
                self.next_seed[bench] = seed + 1
        checked_text = ", ".join(f"{n} {unit}" for unit, n in cases.items())
        self.log(f"[soak] {bench} seed {seed}: {len(results) - len(failed)} passed"
                 f"{', FAILED ' + ' '.join(failed) if failed else ''} ({wall:.0f} s"
                 f"{', ' + checked_text if checked_text else ''}"
                 f"{f', {sum(tokens.values())} tokens' if tokens else ''})")


def rerun(node, seed):
    return f"ISOSCELES_SEED={seed} python -m pytest '{node}'"


def coverage_union(reports):
    """Hits per bin summed over ``reports`` (each ``{"bins": {name: hits}}``), and the bins no
    run reached."""
    union = {}
    for report in reports:
        for name, hits in report["bins"].items():
            union[name] = union.get(name, 0) + hits
    return union, [name for name, hits in union.items() if not hits]


def checked_totals(reports):
    """Cases by unit and tokens by stream, each summed over ``reports`` (each ``{"cases":
    {unit: n}, "tokens": {stream: n}}``, as ``tb/checked.py`` saves them)."""
    cases, tokens = {}, {}
    for report in reports:
        for total, kind in ((cases, "cases"), (tokens, "tokens")):
            for name, count in report.get(kind, {}).items():
                total[name] = total.get(name, 0) + count
    return cases, tokens


def rates(runs):
    """Cases per minute of one process, by unit, over the runs after the probe (whose time
    includes the Verilator builds): what a longer soak of the bench can expect per job."""
    later = [run for run in runs if not run["probe"]]
    wall = sum(run["wall_s"] for run in later)
    cases, _ = checked_totals({"cases": run["cases"]} for run in later)
    return {unit: round(60 * count / wall, 2) for unit, count in cases.items()} if wall else {}


def summary(soak, elapsed, minutes=None):
    """The results of ``soak`` as ``--json`` writes them, per bench and in total."""
    benches = {}
    for node, entry in soak.tests.items():
        benches.setdefault(entry["bench"], {})[node] = entry
    union, never = coverage_union(soak.coverage)
    per_bench = {}
    for bench, tests in benches.items():
        cases, tokens = checked_totals(r for r in soak.checked if tests.get(r["node"]))
        runs = soak.runs[bench]
        per_bench[bench] = {
            "wall_s": round(sum(run["wall_s"] for run in runs)), "bench_runs": len(runs),
            "cases": cases, "tokens": sum(tokens.values()), "tokens_by_stream": tokens,
            "cases_per_minute": rates(runs), "runs": runs, "tests": tests}
    cases, tokens = checked_totals(soak.checked)
    seeds = [run["seed"] for runs in soak.runs.values() for run in runs]
    failing = [{"node": node, **failure} for node, entry in soak.tests.items()
               for failure in entry["failed"]]
    return {
        "seeds": [min(seeds), max(seeds)] if seeds else [], "minutes": minutes,
        "elapsed_s": round(elapsed),
        "bench_runs": len(seeds),
        "runs": sum(len(e["passed"]) + len(e["failed"]) for e in soak.tests.values()),
        "failures": len(failing), "mismatches": len(failing), "failing": failing,
        "layers": cases.get("layers", 0), "cases": cases, "tokens": sum(tokens.values()),
        "tokens_by_stream": tokens,
        "benches": per_bench,
        "coverage": {"runs": len(soak.coverage), "union": union, "never": never,
                     "per_run": soak.coverage},
    }


def _counts_text(cases, tokens):
    text = ", ".join(f"{count} {unit}" for unit, count in cases.items())
    return f"{text + ', ' if text else ''}{tokens} tokens checked"


def report(result):
    lines = []
    for bench, data in result["benches"].items():
        tests = data["tests"]
        seeded = [e for e in tests.values() if e.get("seeded")]
        once = [e for e in tests.values() if not e.get("seeded")]
        passed = {s for e in seeded for s in e["passed"]} - {
            f["seed"] for e in seeded for f in e["failed"]}
        failed = sorted({f["seed"] for e in tests.values() for f in e["failed"]})
        pinned = sorted({s for e in tests.values() for s in e.get("pinned", [])})
        failed_text = f" ({', '.join(map(str, failed))})" if failed else ""
        pinned_text = f" (pinned seeds {', '.join(map(str, pinned))})" if pinned else ""
        rate = ", ".join(f"{n} {unit}" for unit, n in data["cases_per_minute"].items())
        lines.append(
            f"{bench}: {len(seeded)} seeded tests, {len(passed)} seeds passed, "
            f"{len(failed)} failed{failed_text}; {len(once)} tests run once{pinned_text}; "
            f"{data['wall_s']} s; {_counts_text(data['cases'], data['tokens'])}"
            f"{f' ({rate} a minute after the probe)' if rate else ''}")
        for node, entry in tests.items():
            for failure in entry["failed"]:
                lines.append(f"  FAILED {node} seed {failure['seed']}: {failure['line']}")
                lines.append(f"    rerun: {failure['rerun']}")
    coverage = result["coverage"]
    if coverage["runs"]:
        union = coverage["union"]
        lines.append(f"coverage over {coverage['runs']} runs: {len(union) - len(coverage['never'])}"
                     f" of {len(union)} bins reached")
        lines.extend(f"  {name:<28} {hits}" for name, hits in union.items())
        lines.append("  never reached: " + (", ".join(coverage["never"]) or "none"))
    lines.append(f"checked: {result['layers']} layers; "
                 f"{_counts_text(result['cases'], result['tokens'])}")
    lines.append(f"{result['runs']} test runs in {result['bench_runs']} bench runs (seeds "
                 f"{'-'.join(map(str, result['seeds']))}), {result['failures']} failed, "
                 f"{result['elapsed_s']} s")
    return "\n".join(lines)


def main(argv=None, *, runner=run_one, clock=time.monotonic):
    """The command line; ``runner`` and ``clock`` as :class:`Soak` takes them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int,
                        help="seeds per bench (default 20, or no limit with --minutes)")
    parser.add_argument("--minutes", type=float,
                        help="draw new seeds until this many minutes have passed, then let "
                             "the runs in flight finish (the probes run whatever the time)")
    parser.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="pytest processes at once")
    parser.add_argument("--tests", default="", metavar="PATTERN",
                        help="node ids to run: '|'-separated globs or substrings "
                             "(default: every cocotb bench)")
    parser.add_argument("--exclude", default="", metavar="PATTERN",
                        help="node ids to leave out, in the form of --tests")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds one bench run may take before it counts as failed")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.seeds is None and args.minutes is None:
        args.seeds = 20
    for name in ("seeds", "jobs", "timeout"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not "
                         f"{getattr(args, name)}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be 0 or more, not {args.first_seed}")
    if args.minutes is not None and not args.minutes > 0:
        parser.error(f"--minutes must be more than 0, not {args.minutes}")

    plan = {}
    for node in collect(bench_files(ROOT / "tb")):
        if ((not args.tests or matches(node, args.tests))
                and not (args.exclude and matches(node, args.exclude))):
            plan.setdefault(node.split("::")[0], []).append(node)
    if not plan:
        parser.error(f"--tests {args.tests!r} matches no test of the cocotb benches under tb/")
    start = clock()
    soak = Soak(plan, args.first_seed, args.jobs, args.timeout,
                lambda line: print(line, flush=True), seeds=args.seeds,
                deadline=None if args.minutes is None else start + 60 * args.minutes,
                runner=runner, clock=clock)
    soak.run()
    result = summary(soak, clock() - start, minutes=args.minutes)
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
