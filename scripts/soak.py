"""Seed soak of the cocotb benches: every chosen test of ``tb/test_*.py`` under many seeds.

Each bench file runs once per seed as one pytest process with ``ISOSCELES_SEED`` set, so every
random test in it draws that seed; the Verilator builds in ``build/tb`` are keyed by parameters,
not seeds, so only the first run of a configuration builds. The first seed of a bench is a probe:
a test whose run printed that seed, not pinned, follows ``ISOSCELES_SEED`` and runs for every
seed; the others (lint, parameter checks, pinned seeds) ran once there and are reported as such.
Functional coverage that a bench reports (``[isosceles.tb] coverage: {...}``, see
``tb/coverage.py``) is summed over runs, with the bins never reached.

    python scripts/soak.py --seeds 20 --jobs 2                   # every bench
    python scripts/soak.py --tests 'pou_loader|fetch' --seeds 50 --first-seed 1000
    python scripts/soak.py --tests 'test_core.py::*golden*' --json reports/soak_core.json
    python scripts/soak.py --exclude 'throughput|lint'  # leave the throughput benches out

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

    Returns ``{node: {"ok", "seeds", "line", "coverage"}}`` and the wall time.
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
                }
    for node in nodes:
        if node not in results:  # a crash, a timeout or a collection error: the whole run fails
            tail = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
            reason = f"timed out after {timeout} s" if timed_out else tail[0]
            results[node] = {"ok": False, "skipped": False, "seeds": [], "line": reason,
                             "coverage": []}
    return results, wall


class Soak:
    """Runs (bench, seed) jobs on ``jobs`` threads, lowest (bench order, seed) first; a bench's
    later seeds are queued once its probe run has shown which of its tests follow the seed."""

    def __init__(self, plan, seeds, jobs, timeout, log):
        self.plan, self.seeds, self.timeout, self.log = plan, seeds, timeout, log
        self.queue = [(index, seeds[0], bench, nodes)
                      for index, (bench, nodes) in enumerate(plan.items())]
        heapq.heapify(self.queue)
        self.pending = len(self.queue)
        self.lock = threading.Condition()
        self.tests = {}  # node -> {"seeded", "passed", "failed", "pinned"}
        self.coverage = []
        self.walls = {bench: 0.0 for bench in plan}
        self.processes = 0
        self.threads = [threading.Thread(target=self._work) for _ in range(jobs)]

    def run(self):
        for thread in self.threads:
            thread.start()
        for thread in self.threads:
            thread.join()

    def _work(self):
        while True:
            with self.lock:
                while not self.queue and self.pending:
                    self.lock.wait()
                if not self.queue:
                    return
                index, seed, bench, nodes = heapq.heappop(self.queue)
            results, wall = run_one(bench, nodes, seed, self.timeout)
            with self.lock:
                self._record(index, seed, bench, results, wall)
                self.pending -= 1
                self.lock.notify_all()

    def _record(self, index, seed, bench, results, wall):
        self.walls[bench] += wall
        self.processes += 1
        probe = seed == self.seeds[0]
        failed = []
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
        if probe:
            seeded = [node for node in results if self.tests[node].get("seeded")]
            if seeded:
                for later in self.seeds[1:]:
                    heapq.heappush(self.queue, (index, later, bench, seeded))
                self.pending += len(self.seeds) - 1
        self.log(f"[soak] {bench} seed {seed}: {len(results) - len(failed)} passed"
                 f"{', FAILED ' + ' '.join(failed) if failed else ''} ({wall:.0f} s)")


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


def summary(soak, seeds, elapsed):
    benches = {}
    for node, entry in soak.tests.items():
        benches.setdefault(entry["bench"], {})[node] = entry
    union, never = coverage_union(soak.coverage)
    return {
        "seeds": [seeds[0], seeds[-1]], "elapsed_s": round(elapsed),
        "bench_runs": soak.processes,
        "runs": sum(len(e["passed"]) + len(e["failed"]) for e in soak.tests.values()),
        "failures": sum(len(e["failed"]) for e in soak.tests.values()),
        "benches": {bench: {"wall_s": round(soak.walls[bench]), "tests": tests}
                    for bench, tests in benches.items()},
        "coverage": {"runs": len(soak.coverage), "union": union, "never": never,
                     "per_run": soak.coverage},
    }


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
        lines.append(
            f"{bench}: {len(seeded)} seeded tests, {len(passed)} seeds passed, "
            f"{len(failed)} failed{failed_text}; {len(once)} tests run once{pinned_text}; "
            f"{data['wall_s']} s")
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
    lines.append(f"{result['runs']} test runs in {result['bench_runs']} bench runs, "
                 f"{result['failures']} failed, {result['elapsed_s']} s")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per bench (default 20)")
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
    for name in ("seeds", "jobs", "timeout"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not "
                         f"{getattr(args, name)}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be 0 or more, not {args.first_seed}")

    plan = {}
    for node in collect(bench_files(ROOT / "tb")):
        if ((not args.tests or matches(node, args.tests))
                and not (args.exclude and matches(node, args.exclude))):
            plan.setdefault(node.split("::")[0], []).append(node)
    if not plan:
        parser.error(f"--tests {args.tests!r} matches no test of the cocotb benches under tb/")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    start = time.monotonic()
    soak = Soak(plan, seeds, args.jobs, args.timeout, lambda line: print(line, flush=True))
    soak.run()
    result = summary(soak, seeds, time.monotonic() - start)
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
