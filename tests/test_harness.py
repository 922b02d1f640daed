"""The harness's waveforms and builds: FST or VCD, listed for pytest's summary, in a build of
their own so that runs without them do not rebuild; progress on stderr; no intermediates kept."""

import time

from isosceles.tb import harness
from isosceles.tb.harness import recorded_waveforms, run_cocotb
from isosceles.tb.test_stream_buffer import MODULE, stream_buffer

# A width no other bench builds, so that its builds are this harness's own.
PARAMS = dict(value_bits=13)


def _run(waves):
    return run_cocotb(stream_buffer, params=PARAMS, test_module=MODULE, seed=1, waves=waves,
                      testcase="stalls_and_backpressure")


def test_waves_are_recorded_listed_and_leave_the_plain_build_alone():
    plain = _run(waves=False).parent
    built = (plain / "built.ok").stat().st_mtime_ns
    recorded_waveforms.clear()
    with_waves = _run(waves=True)
    suffix = "fst" if harness._fst_supported() else "vcd"
    wave = with_waves / f"dump.{suffix}"
    assert recorded_waveforms == [str(wave)] and wave.stat().st_size > 1000
    if suffix == "vcd":
        text = wave.read_text()
        assert "$var wire 1" in text and " i__valid " in text and " o__ready " in text
    assert with_waves.parent != plain
    recorded_waveforms.clear()
    assert _run(waves=False).parent == plain
    assert (plain / "built.ok").stat().st_mtime_ns == built  # not rebuilt
    assert recorded_waveforms == []
    for build in (plain, with_waves.parent):  # the simulator is kept, not what made it
        assert (build / "stream_buffer").exists()
        assert not [path.name for pattern in ("*.gch", "*.o", "*.a")
                    for path in build.glob(pattern)]


def test_a_long_build_reports_its_progress_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ISOSCELES_BUILD_DIR", str(tmp_path))
    monkeypatch.setattr(harness, "PROGRESS_SECONDS", 0.05)
    build = tmp_path / "unit-0123456789abcdef"
    build.mkdir()
    (build / "big.o").write_bytes(bytes(2_000_000))
    with harness._progress("unit", build):
        time.sleep(0.3)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert lines[0].startswith(f"[isosceles.tb] building unit with Verilator in {build}")
    assert any("building unit: 0s so far, Verilator is translating" in line for line in lines)
    assert lines[-1].startswith("[isosceles.tb] built unit in 0s; the build cache")
    assert lines[-1].endswith("holds 2 MB (isosceles clean empties it)")
