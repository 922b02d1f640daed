"""Output files are written whole or not at all."""

import json
import stat

import pytest

from isosceles.gen.files import atomic_write, write_json


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.json"

    def fail(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(OSError):
        atomic_write(target, lambda file: (_ for _ in ()).throw(OSError("disk full")))
    assert json.loads(target.read_text()) == {"a": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]


def test_written_file_is_readable_by_others_and_folder_created(tmp_path):
    target = tmp_path / "reports" / "out.json"
    write_json(target, {"cycles": 12})
    assert json.loads(target.read_text()) == {"cycles": 12}
    assert target.stat().st_mode & stat.S_IROTH  # not the temporary file's private 0600
