"""cocotb module behind ``isosceles run``: every layer of a workload file through the core.

The bench plays the memory side (not built yet): it loads each layer's filters and POU table
through the load ports and streams the input rows of each band into the lanes. It writes, per
layer, the cycles and every O token of every output row to the JSON file ``extra["result"]``;
``isosceles.gen.run`` checks them against the golden model.
"""

import json

import cocotb

from isosceles.golden.isos import isos_streams
from isosceles.golden.workload_file import load_workload
from isosceles.tb.cocotb_core import config_of, run_layer
from isosceles.tb.streams import start_clock_and_reset, tb_context


@cocotb.test()
async def run_workload(dut):
    ctx = tb_context()
    config = config_of(ctx.params)
    workload = load_workload(ctx.extra["workload"], numerics=config.numerics)
    await start_clock_and_reset(dut)
    results = []
    for index, layer in enumerate(workload.layers):
        i, f, stride, padding, groups = layer.conv_arguments()
        s = isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                         numerics=config.numerics)
        cycles, rows = await run_layer(dut, ctx, config, s, layer.pou,
                                       idle=ctx.extra.get("idle", 0.0),
                                       backpressure=ctx.extra.get("backpressure", 0.0))
        results.append({"name": layer.name, "cycles": cycles,
                        "rows": [rows[p] for p in range(s.geometry.P)]})
        dut._log.info(f"layer {index + 1}/{len(workload.layers)} {layer.name}: {cycles} cycles")
    with open(ctx.extra["result"], "w") as file:
        json.dump(results, file)
