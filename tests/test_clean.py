"""`isosceles clean` removes the harness's build cache, says what and how many bytes, and leaves
what it did not write and builds in progress."""

import fcntl

import pytest

from isosceles.gen.cli import main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "tb"
    monkeypatch.setenv("ISOSCELES_BUILD_DIR", str(root))
    for name, size in (("stream_buffer-0123456789abcdef/stream_buffer", 1000),
                       ("stream_buffer-0123456789abcdef/run-x/dump.vcd", 500),
                       ("isosceles_block-fedcba9876543210/isosceles_block", 3000),
                       ("lint/0123456789abcdef/pou.v", 200), ("ccache/0/a", 7000)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(bytes(size))
    (root / ".stream_buffer-0123456789abcdef.lock").write_text("")
    (root / ".isosceles_block-fedcba9876543210.lock").write_text("")
    return root


def test_dry_run_lists_and_sizes_and_removes_nothing(cache, capsys):
    before = sorted(cache.rglob("*"))
    assert main(["clean", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove stream_buffer-0123456789abcdef (1.5 kB)" in out
    assert f"would remove 6 entries of the build cache {cache}: 11700 bytes (11.7 kB)" in out
    assert sorted(cache.rglob("*")) == before


def test_clean_removes_the_cache_and_keeps_what_is_not_the_harness(cache, capsys):
    (cache / "notes.txt").write_text("mine")
    assert main(["clean"]) == 0
    out = capsys.readouterr().out
    assert "removed ccache (7 kB)" in out
    assert f"removed 6 entries of the build cache {cache}: 11700 bytes" in out
    assert "not the harness's: notes.txt" in out
    assert sorted(path.name for path in cache.iterdir()) == ["notes.txt"]


def test_clean_removes_the_emptied_folder_and_a_second_clean_finds_nothing(cache, capsys):
    assert main(["clean"]) == 0 and not cache.exists()
    assert main(["clean"]) == 0
    assert "removed 0 entries of the build cache" in capsys.readouterr().out


def test_a_build_in_progress_is_left(cache, capsys):
    with open(cache / ".isosceles_block-fedcba9876543210.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(["clean"]) == 0
    out = capsys.readouterr().out
    assert "left isosceles_block-fedcba9876543210: a build is running in it" in out
    assert f"removed 4 entries of the build cache {cache}: 8700 bytes" in out
    assert sorted(path.name for path in cache.iterdir()) == [
        ".isosceles_block-fedcba9876543210.lock", "isosceles_block-fedcba9876543210"]
