"""``isosceles clean``: empty the Verilator build cache (``$ISOSCELES_BUILD_DIR``, default
``build/tb``).

Only what the harness writes there is removed: build folders named ``<top>-<key>``, their lock
files, the lint folders and ccache's objects; anything else in the folder is left and named. A
build in progress (its lock held) is left too.
"""

import fcntl
import shutil
import sys

from isosceles.tb.harness import build_root, cache_bytes, cache_entries, format_bytes

__all__ = ["register", "clean"]


def _busy(root, path):
    """Whether another process is building in ``path`` now (it holds the build's lock)."""
    lock = root / f".{path.name}.lock"
    if not path.is_dir() or not lock.exists():
        return False
    with open(lock) as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(file, fcntl.LOCK_UN)
    return False


def _lock_of(path, builds):
    return any(path.name == f".{build.name}.lock" for build in builds)


def clean(*, dry_run=False, file=None):
    """Remove the build cache's entries (or, with ``dry_run``, only list them), printing each
    with its size and then the total; returns the bytes removed."""
    file = file or sys.stdout
    root = build_root()
    verb = "would remove" if dry_run else "removed"
    busy = [path for path in cache_entries(root) if _busy(root, path)]
    entries = [path for path in cache_entries(root)
               if path not in busy and not _lock_of(path, busy)]
    total = 0
    for path in entries:
        size = cache_bytes([path])
        if not dry_run:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        total += size
        print(f"{verb} {path.name} ({format_bytes(size)})", file=file)
    for path in busy:
        print(f"left {path.name}: a build is running in it", file=file)
    print(f"isosceles clean: {verb} {len(entries)} entries of the build cache {root}: "
          f"{total} bytes ({format_bytes(total)})", file=file)
    if root.is_dir():
        foreign = sorted(path.name for path in root.iterdir() if path not in entries
                         and path not in busy and not _lock_of(path, busy))
        if foreign:
            print(f"left in {root}, not the harness's: {', '.join(foreign)}", file=file)
        elif not dry_run and not busy:
            root.rmdir()
    return total


def run_clean(args):
    clean(dry_run=args.dry_run)
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "clean", help="remove the Verilator build cache (build/tb, or $ISOSCELES_BUILD_DIR)",
        description="Remove the Verilator build cache ($ISOSCELES_BUILD_DIR, default build/tb): "
                    "the build folders, their locks, the lint folders and ccache's objects; a "
                    "build in progress and files the harness did not write are left.")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be removed and its size; remove nothing")
    parser.set_defaults(func=run_clean)
