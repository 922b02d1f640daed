"""``isosceles compile``: a workload file as a program for the block, for host software that runs
it on the accelerator without this package.

The program is the memory image a host loads at ``base`` in the memory the block's AXI4 master
reads (the network's input, every layer's filters and POU table, the output areas reserved; the
format of ``docs/memory.md``), and per layer, in order, the descriptor it writes into the block's
registers before starting it (field names as in the C header of ``isosceles generate``). A layer
that reads an earlier one reads the rows the block wrote for it, in place, as ``isosceles run``
runs it. The golden output of every layer comes with it, to check the hardware against.
"""

import json
from pathlib import Path

import numpy as np

from isosceles.gen.cli import add_config_argument, existing_file, load_config
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import output_folder
from isosceles.gen.run import check_fits
from isosceles.golden.memory_image import MemoryImage
from isosceles.golden.workload_file import load_workload

__all__ = ["compile_workload", "register"]

# The files of a program folder, by name.
FILES = {
    "memory.bin": "the memory image, to load at the base address",
    "program.json": "per layer, its descriptor and where its output rows go",
    "expected.npz": "per layer, its golden output [P, Q, K]",
}


def compile_workload(path, out_dir, config=None, *, base=0):
    """Write the program of workload file ``path`` for the block of ``config`` (default: the
    built-in one), laid out from byte address ``base``, into folder ``out_dir`` (the files of
    :data:`FILES`, all or none); return the ``program.json`` document."""
    config = IsoscelesConfig() if config is None else config
    workload = load_workload(path, numerics=config.numerics)
    check_fits(workload, config)
    image = MemoryImage(base)
    placed = workload.layout(image, numerics=config.numerics)
    program = {
        "workload": str(path), "config": config.as_dict(),
        "memory": {"file": "memory.bin", "base": base, "bytes": len(image.data)},
        "layers": [{"name": layer.name, "type": layer.type, "descriptor": p.descriptor(),
                    "output": {"rows": p.output.entries, "row_table": p.output.table,
                               "words": p.output.words, "row_stride_words": p.row_stride_words,
                               "shape": list(layer.output.shape)}}
                   for layer, p in zip(workload.layers, placed, strict=True)],
    }
    with output_folder(out_dir, "-o") as staging:
        (staging / "memory.bin").write_bytes(bytes(image.data))
        np.savez(staging / "expected.npz", **{layer.name: layer.output.astype(np.int32)
                                              for layer in workload.layers})
        (staging / "program.json").write_text(json.dumps(program, indent=1) + "\n")
    return program


def _base(text):
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"--base must be an integer byte address (such as 0x80000000), not "
                         f"{text!r}") from None


def run_compile(args):
    program = compile_workload(args.workload, args.out, load_config(args), base=_base(args.base))
    memory = program["memory"]
    print(f"isosceles compile: {len(program['layers'])} layers, {memory['bytes']} bytes of "
          f"memory from {memory['base']:#x}; wrote {', '.join(FILES)} to {args.out}")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "compile", help="write a workload file as a program for the block: its memory image "
                        "and per-layer descriptors",
        description=" ".join(__doc__.split("\n\n")[0].replace("``", "").split()))
    parser.add_argument("workload", type=existing_file, help="a workload TOML file")
    add_config_argument(parser)
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                        help=f"output folder: {', '.join(FILES)}")
    parser.add_argument("--base", default="0",
                        help="byte address of the memory image (a multiple of 64; default 0)")
    parser.set_defaults(func=run_compile)
