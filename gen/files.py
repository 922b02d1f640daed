"""Output files written whole or not at all, so a failed run never leaves a corrupt one behind."""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "write_json", "check_writable", "output_folder", "umask"]


def umask():
    """The process's file-creation mask (reading it means setting it, so it is set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then rename it onto
    ``path`` (creating its folder). The file gets the usual permissions, not the temporary
    file's private ones."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path, document):
    """``document`` as indented JSON at ``path``, atomically."""
    text = json.dumps(document, indent=1).encode()
    atomic_write(path, lambda file: file.write(text))


def check_writable(path, *, folder=False):
    """Fail now, with an ``OSError`` naming ``path``, if a file (or, with ``folder``, files in a
    folder) cannot be written there later: for commands that check their outputs before working.
    Creates the folder, as :func:`atomic_write` would."""
    path = Path(path)
    where = path if folder else path.parent
    if not folder and path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as error:
        raise OSError(f"cannot write to {where}: {error.strerror or error}; "
                      f"choose a writable path") from error


@contextmanager
def output_folder(out_dir, option):
    """A staging folder to fill, moved onto output folder ``out_dir`` when the block ends
    without an exception having written into it, and removed otherwise, so a failed run leaves
    no half-written folder. ``OSError`` now naming ``option`` (the command-line option that gave
    the folder) and the path if ``out_dir`` cannot be written."""
    staging = _staging_folder(out_dir, option)
    try:
        yield staging
        if any(staging.iterdir()):
            _publish_folder(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _staging_folder(out_dir, option):
    """A fresh folder beside output folder ``out_dir``, to fill and then :func:`_publish_folder`.
    Made before any work, it checks that ``out_dir`` can be written: ``OSError`` naming
    ``option`` (the command-line option that gave the folder) and the path otherwise."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{option} {out_dir} exists and is not a folder")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            with tempfile.TemporaryFile(dir=out_dir):
                pass
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    except OSError as error:
        raise OSError(f"{option} {out_dir}: cannot write there ({error.strerror or error}); "
                      f"choose a writable folder") from error
    staging.chmod(0o777 & ~umask())  # a folder with the usual permissions, not mkdtemp's
    return staging


def _publish_folder(staging, out_dir):
    """Move the files of ``staging`` into ``out_dir``: the whole folder by one rename when
    ``out_dir`` does not exist, else file by file (files of other names in it are kept)."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    for path in sorted(staging.iterdir()):
        path.replace(out_dir / path.name)
    staging.rmdir()
