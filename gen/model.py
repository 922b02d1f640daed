"""``isosceles model``: the paper's evaluation from the performance models, next to its numbers.

Runs ISOSceles (per-block and greedy pipelining), ISOSceles-single, SparTen (the paper's and the
optimistic reading) and Fused-Layer on the chosen variants and the user's workload files, and
prints where the activation densities come from, Fig. 14a (speedup over Fused-Layer), 14b
(cycles), 14c (traffic by tensor, normalised to Fused-Layer), Fig. 15 and 16 (DRAM bandwidth and
MAC utilisation), the R96 ablation, both SparTen readings, both groupings, what bounds ISOSceles
and the gmeans, each with the paper's figure where the paper gives one (:data:`PAPER`). PNG plots
go to the output folder; ``--json`` writes every figure. Outputs are checked before the work and
written whole or not at all.

:func:`evaluate` and :func:`summarize` are the Python API the command is a thin layer over.
"""

import json
import math
from pathlib import Path

import numpy as np

from isosceles.gen.cli import add_config_argument, existing_file, load_config
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import atomic_write, check_writable, write_json
from isosceles.golden.workload_file import load_workload as load_golden_workload
from isosceles.golden.workload_spec import read_workload_spec
from isosceles.perf.baselines import (
    FusedLayerConfig,
    FusedLayerModel,
    SparTenConfig,
    SparTenModel,
)
from isosceles.perf.isosceles_model import IsoscelesModel, pipelinable, reads_image
from isosceles.perf.results import TRAFFIC_KINDS
from isosceles.perf.workload_file import load_workload
from isosceles.perf.workloads import (
    ACTIVATION_SOURCE,
    NETWORK_OF,
    VARIANTS,
    parse_variants,
    workload,
)

__all__ = ["PAPER", "DESIGNS", "ALTERNATIVES", "evaluate", "load_network", "read_densities",
           "summarize", "format_report", "write_plots", "register"]

# The headline designs, in every figure: SparTen in the paper's reading (input re-read per group
# of filters) and ISOSceles with the paper's per-block pipelining.
DESIGNS = ("Fused-Layer", "SparTen", "ISOSceles-single", "ISOSceles")
# The other readings, reported beside the headline ones.
ALTERNATIVES = ("SparTen-optimistic", "ISOSceles-greedy")
SPARTENS = ("SparTen", "SparTen-optimistic")
PIPELINED = ("ISOSceles", "ISOSceles-greedy")

# The paper's own figures, all from Yang, Emer, Sanchez, "ISOSceles: Accelerating Sparse CNNs
# through Inter-Layer Pipelining", HPCA 2023 (abstract, Section VI and the talk's slides), as
# collected in shared/reference/isosceles.md, section 4. None: the paper's figure is a plot
# whose per-network values we do not have.
PAPER = {
    "source": "Yang, Emer, Sanchez, ISOSceles, HPCA 2023 (doi 10.1109/HPCA56546.2023.10071080): "
              "abstract, Sec. VI (Figs. 14-16) and slides",
    # Speedup of ISOSceles over SparTen per network (Sec. VI); ResNet-50 as a range.
    "speedup_vs_sparten": {"M75": 5.6, "M89": 6.7, "V68": 1.9, "V90": 5.3, "G58": 1.7},
    "speedup_vs_sparten_resnet_range": (3.9, 5.6),
    "speedup_vs_sparten_gmean": 4.3,          # abstract
    "speedup_vs_sparten_max": 6.7,            # abstract
    "traffic_reduction_vs_sparten_gmean": 4.7,  # abstract
    "traffic_reduction_vs_sparten_max": 8.5,  # abstract
    # Fig. 14a: only the gmean and the largest bar (R99) are quoted in the text.
    "speedup_vs_fused_layer": {"R99": 18.0},
    "speedup_vs_fused_layer_gmean": 7.5,
    "traffic_reduction_vs_fused_layer_gmean": 3.6,
    "cycles": None,                           # Fig. 14b
    "traffic_by_tensor": None,                # Fig. 14c
    "mac_utilization_mean": 0.35,             # Fig. 16, ISOSceles, mean over the 11 networks
    "mac_utilization_vs_sparten": 3.4,        # Fig. 16, ISOSceles over SparTen
    "fused_layer_mac_utilization": "near 100 %",
    "sparten_bandwidth": "always saturated",  # Fig. 15
    "fused_layer_bandwidth_utilization": 0.47,  # Fig. 15, mean
    "isosceles_not_bandwidth_bound": 3,       # Fig. 15: networks (of 11)
    "ablation_R96": {"single_speedup_vs_sparten": 1.9, "pipelining_speedup": 2.6,
                     "pipelining_traffic_reduction": 2.7,
                     "first_conv_and_fc_time_share": 0.16},
    "layers_per_pipeline": {"ResNet-50": "3-5 on average; R81 up to 6; R98/R99 9-15",
                            "MobileNetV1": "3-7", "VGG-16": "2-3 between pooling layers"},
    # Table IV: R96's pipelines, whole ResNet-50 blocks each (layers per pipeline).
    "pipelines_R96": (4, 6, 4, 3, 6, 4, 3, 6, 6, 4, 6),
    # Sec. VI-A (as issue 12's review reads it): SparTen's traffic over Fused-Layer's. The mean
    # agrees with the abstract's gmeans: 4.7 / 3.6 = 1.31.
    "sparten_traffic_vs_fused_layer_mean": 1.3,
    "sparten_traffic_vs_fused_layer_M75": 2.4,
}


def _gmean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def evaluate(names=VARIANTS, *, seed=0, config=None, pooled_mergers=False,
             merger_tokens_per_cycle=1.0, densities=None, activation_scale=1.0, networks=()):
    """Run every design on each variant: ``{variant: {design: NetworkResult}}``, with the
    designs of :data:`DESIGNS` and :data:`ALTERNATIVES`. ``densities`` maps a variant to the
    activation densities the user measured (see :func:`~isosceles.perf.workloads.workload`);
    ``activation_scale`` multiplies every activation density (a sensitivity study);
    ``networks`` are the user's own :class:`~isosceles.perf.workloads.Workload` objects, run
    after the variants under their own names."""
    config = IsoscelesConfig.paper() if config is None else config
    densities = {} if densities is None else densities
    unknown = sorted(set(densities) - set(names))
    if unknown:
        raise ValueError(f"densities given for {', '.join(unknown)}, which is not among the "
                         f"networks run ({', '.join(names)}); add it to --networks")
    # The baselines share the memory system and the integer widths of the ISOSceles design.
    shared = dict(dram_bytes_per_cycle=config.dram_bytes_per_cycle, numerics=config.numerics)
    iso = dict(pooled_mergers=pooled_mergers, merger_tokens_per_cycle=merger_tokens_per_cycle)
    models = (FusedLayerModel(FusedLayerConfig(**shared)),
              SparTenModel(SparTenConfig(reading="paper", **shared)),
              SparTenModel(SparTenConfig(reading="optimistic", **shared)),
              IsoscelesModel(config, pipelined=False, **iso),
              IsoscelesModel(config, grouping="block", **iso),
              IsoscelesModel(config, grouping="greedy", **iso))
    results = {}
    chosen = [workload(name, seed=seed, densities=densities.get(name)) for name in names]
    for w in chosen + list(networks):
        if w.name in results:
            raise ValueError(f"two networks are named {w.name!r}; rename one workload file")
        if activation_scale != 1.0:
            w = w.scaled(activation_scale=activation_scale)
        results[w.name] = {model.name: model.run(w) for model in models}
    return results


def _memory_bound_share(result):
    return sum(g.cycles for g in result.groups if g.bound == "memory") / result.cycles


def _bound_shares(result):
    """Share of a design's time spent in groups bound by compute, mergers and memory."""
    return {bound: sum(g.cycles for g in result.groups if g.bound == bound) / result.cycles
            for bound in ("compute", "merger", "memory")}


def _pipeline_lengths(w, result):
    """Layers per group, over the groups of layers ISOSceles may pipeline."""
    layers = {layer.name: layer for layer in w.layers}
    lengths = [len(g.layers) for g in result.groups
               if all(pipelinable(w, layers[name]) for name in g.layers)]
    return {"mean": sum(lengths) / len(lengths) if lengths else 0.0,
            "max": max(lengths) if lengths else 0}


def summarize(results, networks=()):
    """Every figure the report prints, as plain numbers: per network and overall.
    ``networks``: the user's workloads among ``results`` (the rest are the paper's variants)."""
    own = {w.name: w for w in networks}
    per_network = {}
    for name, by_design in results.items():
        fl, st = by_design["Fused-Layer"], by_design["SparTen"]
        iso, single = by_design["ISOSceles"], by_design["ISOSceles-single"]
        # The layer table (kinds and shapes do not depend on the seed or the densities).
        w = own[name] if name in own else workload(name)
        first_and_fc = {layer.name for layer in w.layers
                        if layer.kind == "fc" or reads_image(w, layer)}
        first_and_fc_cycles = sum(g.cycles for g in iso.groups if set(g.layers) <= first_and_fc)
        per_network[name] = {
            "network": NETWORK_OF.get(name, w.network),
            "cycles": {d: r.cycles for d, r in by_design.items()},
            "speedup_vs_fused_layer": {d: fl.cycles / r.cycles for d, r in by_design.items()},
            "traffic_bytes": {d: r.traffic for d, r in by_design.items()},
            "traffic_vs_fused_layer": {
                d: {kind: r.traffic[kind] / fl.traffic_bytes for kind in TRAFFIC_KINDS}
                for d, r in by_design.items()},
            "mac_utilization": {d: r.mac_utilization for d, r in by_design.items()},
            "bandwidth_utilization": {d: r.bandwidth_utilization for d, r in by_design.items()},
            "memory_bound_share": {d: _memory_bound_share(r) for d, r in by_design.items()},
            "speedup_vs_sparten": st.cycles / iso.cycles,
            "traffic_reduction_vs_sparten": st.traffic_bytes / iso.traffic_bytes,
            "traffic_reduction_vs_fused_layer": fl.traffic_bytes / iso.traffic_bytes,
            "single_speedup_vs_sparten": st.cycles / single.cycles,
            "pipelining_speedup": single.cycles / iso.cycles,
            "pipelining_traffic_reduction": single.traffic_bytes / iso.traffic_bytes,
            "first_conv_and_fc_time_share": first_and_fc_cycles / iso.cycles,
            "layers_per_pipeline": _pipeline_lengths(w, iso),
            "layers_per_pipeline_greedy": _pipeline_lengths(w, by_design["ISOSceles-greedy"]),
            "groups": {d: [len(g.layers) for g in by_design[d].groups] for d in PIPELINED},
            "pipelines": [{"layers": list(g.layers), "boundary": g.boundary,
                           "cycles": g.cycles, "dram_bytes": sum(g.traffic.values())}
                          for g in iso.groups],
            "own_workload": name in own,
            "activation_source": w.activation_source or ACTIVATION_SOURCE[w.network],
            "bound_share": _bound_shares(iso),
            "sparten_traffic_vs_fused_layer": {
                d: by_design[d].traffic_bytes / fl.traffic_bytes for d in SPARTENS},
            "single_speedup_vs": {d: by_design[d].cycles / single.cycles for d in SPARTENS},
            "vs_sparten": {f"{i} over {d}": {
                "speedup": by_design[d].cycles / by_design[i].cycles,
                "traffic_reduction": by_design[d].traffic_bytes / by_design[i].traffic_bytes}
                for i in PIPELINED for d in SPARTENS},
        }
    overall = {}
    if per_network:
        rows = per_network.values()
        overall = {
            "speedup_vs_sparten_gmean": _gmean(r["speedup_vs_sparten"] for r in rows),
            "speedup_vs_sparten_max": max(r["speedup_vs_sparten"] for r in rows),
            "traffic_reduction_vs_sparten_gmean": _gmean(
                r["traffic_reduction_vs_sparten"] for r in rows),
            "traffic_reduction_vs_sparten_max": max(
                r["traffic_reduction_vs_sparten"] for r in rows),
            "speedup_vs_fused_layer_gmean": _gmean(
                r["speedup_vs_fused_layer"]["ISOSceles"] for r in rows),
            "speedup_vs_fused_layer_max": max(
                r["speedup_vs_fused_layer"]["ISOSceles"] for r in rows),
            "traffic_reduction_vs_fused_layer_gmean": _gmean(
                r["traffic_reduction_vs_fused_layer"] for r in rows),
            "mac_utilization_mean": {d: sum(r["mac_utilization"][d] for r in rows) / len(rows)
                                     for d in DESIGNS},
            "isosceles_not_bandwidth_bound": sum(
                1 for r in rows if r["memory_bound_share"]["ISOSceles"] < 0.5),
        }
        overall["mac_utilization_vs_sparten"] = (overall["mac_utilization_mean"]["ISOSceles"]
                                                 / overall["mac_utilization_mean"]["SparTen"])
        pairs = next(iter(rows))["vs_sparten"]
        overall["vs_sparten_gmean"] = {pair: {
            key: _gmean(r["vs_sparten"][pair][key] for r in rows)
            for key in ("speedup", "traffic_reduction")} for pair in pairs}
        overall["speedup_vs_fused_layer_gmean_by_grouping"] = {
            d: _gmean(r["speedup_vs_fused_layer"][d] for r in rows) for d in PIPELINED}
        overall["sparten_traffic_vs_fused_layer_gmean"] = {
            d: _gmean(r["sparten_traffic_vs_fused_layer"][d] for r in rows) for d in SPARTENS}
        overall["bound_networks"] = {
            bound: sum(1 for r in rows if max(r["bound_share"], key=r["bound_share"].get)
                       == bound) for bound in ("compute", "merger", "memory")}
    return {"networks": per_network, "overall": overall}


def _paper_speedup_fl(name):
    value = PAPER["speedup_vs_fused_layer"].get(name)
    return "-" if value is None else f"{value:.1f}"


def _paper_speedup_sparten(name):
    if name in PAPER["speedup_vs_sparten"]:
        return f"{PAPER['speedup_vs_sparten'][name]:.1f}"
    if NETWORK_OF.get(name) == "ResNet-50":
        low, high = PAPER["speedup_vs_sparten_resnet_range"]
        return f"{low}-{high}"
    return "-"


def _name_width(net):
    return max([6] + [len(name) + 2 for name in net])


def _inputs(net, densities, densities_file):
    """Where each network's activation densities come from, for the report's first table."""
    nw = _name_width(net)
    lines = ["Inputs: activation densities (the paper's networks' weight densities are "
             "published or fitted to published totals, a workload file's given or measured; "
             "docs/performance.md)"]
    for name in net:
        given = densities.get(name, {})
        source = net[name]["activation_source"]
        if given:
            source = f"{len(given)} tensors from {densities_file}; the rest {source}"
        lines.append(f"{name:{nw}}{source}")
    return lines + [""]


def format_report(results, summary, *, config, seed, pooled_mergers=False,
                  merger_tokens_per_cycle=1.0, densities=None, densities_file=None):
    """The text report: one table per figure, ours beside the paper's."""
    net, overall = summary["networks"], summary["overall"]
    nw = _name_width(net)
    lines = [
        f"isosceles model: {config.lanes} lanes x {config.macs_per_lane} MACs, "
        f"{config.filter_buffer_bytes // 1024} KB filter buffer, {config.context_bytes // 1024} "
        f"KB context + {config.queue_bytes // 1024} KB queues per lane, "
        f"{config.dram_bytes_per_cycle:g} B/cycle at {config.clock_hz / 1e9:g} GHz; "
        f"seed {seed}; backend merger {merger_tokens_per_cycle:g} token/cycle + 1 cycle per "
        f"column marker{', pooled' if pooled_mergers else ''}",
        f"paper: {PAPER['source']}",
        "headline figures: SparTen in the paper's reading (input re-read per group of 64 "
        "filters), ISOSceles with the paper's per-block pipelining; the other readings follow",
        "",
        *_inputs(net, densities or {}, densities_file),
        "Fig. 14a  speedup over Fused-Layer",
        f"{'':{nw}}{'SparTen':>10}{'single':>10}{'ISOSceles':>11}{'paper':>8}",
    ]
    for name, row in net.items():
        s = row["speedup_vs_fused_layer"]
        lines.append(f"{name:{nw}}{s['SparTen']:>10.2f}{s['ISOSceles-single']:>10.2f}"
                     f"{s['ISOSceles']:>11.2f}{_paper_speedup_fl(name):>8}")
    lines += ["", "Fig. 14b  cycles (thousands)",
              f"{'':{nw}}" + "".join(f"{d:>18}" for d in DESIGNS)]
    for name, row in net.items():
        lines.append(f"{name:{nw}}" + "".join(f"{row['cycles'][d] / 1e3:>18.1f}" for d in DESIGNS))
    lines += ["", "Fig. 14c  DRAM traffic / Fused-Layer total, by tensor "
              "(input + weights + output + partials)"]
    for name, row in net.items():
        parts = []
        for d in DESIGNS:
            t = row["traffic_vs_fused_layer"][d]
            parts.append(f"{d} {sum(t.values()):.2f} = " + "+".join(
                f"{t[kind]:.2f}" for kind in TRAFFIC_KINDS))
        lines.append(f"{name:{nw}}" + "; ".join(parts))
    for title, key in (("Fig. 15   DRAM bandwidth utilisation", "bandwidth_utilization"),
                       ("Fig. 16   MAC utilisation", "mac_utilization")):
        lines += ["", title, f"{'':{nw}}" + "".join(f"{d:>18}" for d in DESIGNS)
                  + f"{'ISOSceles bound':>18}"]
        for name, row in net.items():
            bound = row["memory_bound_share"]["ISOSceles"]
            lines.append(f"{name:{nw}}" + "".join(f"{row[key][d]:>18.2f}" for d in DESIGNS)
                         + f"{f'memory {bound:.0%}':>18}")
    lines += ["", "ISOSceles over SparTen: speedup and traffic reduction (paper)",
              f"{'':{nw}}{'speedup':>10}{'paper':>10}{'traffic':>10}   layers/pipeline mean, max"]
    for name, row in net.items():
        lengths = row["layers_per_pipeline"]
        lines.append(f"{name:{nw}}{row['speedup_vs_sparten']:>10.2f}"
                     f"{_paper_speedup_sparten(name):>10}"
                     f"{row['traffic_reduction_vs_sparten']:>10.2f}   "
                     f"{lengths['mean']:.1f}, {lengths['max']}")
    lines.append("paper layers/pipeline: " + "; ".join(
        f"{k} {v}" for k, v in PAPER["layers_per_pipeline"].items()))
    if "R96" in net:
        r, p = net["R96"], PAPER["ablation_R96"]
        lines += ["", "R96 ablation                              ours   paper",
                  f"single over SparTen (speedup)          {r['single_speedup_vs_sparten']:>7.2f}"
                  f"{p['single_speedup_vs_sparten']:>8.1f}",
                  f"pipelining over single (speedup)       {r['pipelining_speedup']:>7.2f}"
                  f"{p['pipelining_speedup']:>8.1f}",
                  f"pipelining over single (traffic)       "
                  f"{r['pipelining_traffic_reduction']:>7.2f}"
                  f"{p['pipelining_traffic_reduction']:>8.1f}",
                  f"first conv + FC share of time          "
                  f"{r['first_conv_and_fc_time_share']:>7.2f}"
                  f"{p['first_conv_and_fc_time_share']:>8.2f}"]
    lines += ["", "SparTen readings: traffic / Fused-Layer's; speedup of single and ISOSceles "
              "over each",
              f"{'':{nw}}{'paper rd':>10}{'optimist':>10}{'single/p':>10}{'single/o':>10}"
              f"{'ISOS/p':>10}{'ISOS/o':>10}"]
    for name, row in net.items():
        t, v, sv = row["sparten_traffic_vs_fused_layer"], row["vs_sparten"], \
            row["single_speedup_vs"]
        lines.append(f"{name:{nw}}{t['SparTen']:>10.2f}{t['SparTen-optimistic']:>10.2f}"
                     f"{sv['SparTen']:>10.2f}{sv['SparTen-optimistic']:>10.2f}"
                     f"{v['ISOSceles over SparTen']['speedup']:>10.2f}"
                     f"{v['ISOSceles over SparTen-optimistic']['speedup']:>10.2f}")
    if overall:
        g = overall["sparten_traffic_vs_fused_layer_gmean"]
        lines.append(f"gmean {g['SparTen']:>10.2f}{g['SparTen-optimistic']:>10.2f}   paper: "
                     f"{PAPER['sparten_traffic_vs_fused_layer_mean']} on average, M75 "
                     f"{PAPER['sparten_traffic_vs_fused_layer_M75']}; R96 single over SparTen "
                     f"{PAPER['ablation_R96']['single_speedup_vs_sparten']}")
    lines += ["", "Pipeline grouping: per block (the paper's, headline) and greedy",
              f"{'':{nw}}{'block x FL':>11}{'greedy x FL':>12}   layers per pipeline (block | "
              f"greedy)"]
    for name, row in net.items():
        s = row["speedup_vs_fused_layer"]
        lines.append(f"{name:{nw}}{s['ISOSceles']:>11.2f}{s['ISOSceles-greedy']:>12.2f}   "
                     + ",".join(map(str, row["groups"]["ISOSceles"])) + " | "
                     + ",".join(map(str, row["groups"]["ISOSceles-greedy"])))
    lines.append("paper R96 (Table IV, pipelined layers only): "
                 + ",".join(map(str, PAPER["pipelines_R96"])))
    for name, row in net.items():
        if row["own_workload"]:
            lines += ["", f"Pipelines of {name} (ISOSceles): cycles, DRAM bytes and why each "
                          "starts where it does"]
            lines += [f"  {', '.join(group['layers'])}  ({group['cycles']:.0f} cycles, "
                      f"{group['dram_bytes']:.0f} B)"
                      + (f": {group['boundary']}" if group["boundary"] else "")
                      for group in row["pipelines"]]
            cycles, dram = row["cycles"], {d: sum(t.values())
                                           for d, t in row["traffic_bytes"].items()}
            single, iso = "ISOSceles-single", "ISOSceles"
            lines.append(f"  layer by layer (single) {cycles[single]:.0f} cycles, "
                         f"{dram[single]:.0f} B; pipelined {cycles[iso]:.0f} cycles, "
                         f"{dram[iso]:.0f} B ({cycles[single] / cycles[iso]:.2f}x faster, "
                         f"{dram[single] / dram[iso]:.2f}x fewer bytes)")
    lines += ["", f"What bounds ISOSceles (share of time; backend merger "
              f"{merger_tokens_per_cycle:g} token/cycle)",
              f"{'':{nw}}{'compute':>10}{'merger':>10}{'memory':>10}"]
    for name, row in net.items():
        b = row["bound_share"]
        lines.append(f"{name:{nw}}" + "".join(f"{b[k]:>10.0%}" for k in ("compute", "merger",
                                                                       "memory")))
    if overall:
        o = overall
        v = o["vs_sparten_gmean"]
        lines += ["", "Speedup / traffic reduction over SparTen, gmean, each reading "
                  f"(paper {PAPER['speedup_vs_sparten_gmean']} / "
                  f"{PAPER['traffic_reduction_vs_sparten_gmean']})"]
        lines += [f"  {pair:42}{x['speedup']:>6.2f} /{x['traffic_reduction']:>5.2f}"
                  for pair, x in v.items()]
        f = o["speedup_vs_fused_layer_gmean_by_grouping"]
        lines.append(f"  speedup over Fused-Layer, gmean: block {f['ISOSceles']:.2f}, greedy "
                     f"{f['ISOSceles-greedy']:.2f} (paper {PAPER['speedup_vs_fused_layer_gmean']})")
        lines += ["", f"Overall ({len(net)} networks, headline)       ours   paper",
                  f"speedup over SparTen, gmean (max)   {o['speedup_vs_sparten_gmean']:>6.2f} "
                  f"({o['speedup_vs_sparten_max']:.1f})  {PAPER['speedup_vs_sparten_gmean']} "
                  f"({PAPER['speedup_vs_sparten_max']})",
                  f"traffic vs SparTen, gmean (max)     "
                  f"{o['traffic_reduction_vs_sparten_gmean']:>6.2f} "
                  f"({o['traffic_reduction_vs_sparten_max']:.1f})  "
                  f"{PAPER['traffic_reduction_vs_sparten_gmean']} "
                  f"({PAPER['traffic_reduction_vs_sparten_max']})",
                  f"speedup over Fused-Layer, gmean (max) "
                  f"{o['speedup_vs_fused_layer_gmean']:>4.2f} "
                  f"({o['speedup_vs_fused_layer_max']:.1f})  "
                  f"{PAPER['speedup_vs_fused_layer_gmean']} "
                  f"({max(PAPER['speedup_vs_fused_layer'].values())})",
                  f"traffic vs Fused-Layer, gmean       "
                  f"{o['traffic_reduction_vs_fused_layer_gmean']:>6.2f}"
                  f"{PAPER['traffic_reduction_vs_fused_layer_gmean']:>12}",
                  f"ISOSceles MAC utilisation, mean     "
                  f"{o['mac_utilization_mean']['ISOSceles']:>6.2f}"
                  f"{PAPER['mac_utilization_mean']:>12}",
                  f"  ... over SparTen's                "
                  f"{o['mac_utilization_vs_sparten']:>6.2f}"
                  f"{PAPER['mac_utilization_vs_sparten']:>12}",
                  f"ISOSceles not bandwidth-bound       "
                  f"{o['isosceles_not_bandwidth_bound']:>3} of {len(net)}"
                  f"{PAPER['isosceles_not_bandwidth_bound']:>6} of 11"]
    return "\n".join(lines) + "\n"


def write_plots(summary, out_dir):
    """Fig. 14a-c, 15, 16 and the speedup over SparTen as PNG files in ``out_dir``; returns
    their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net = summary["networks"]
    names = list(net)
    x = range(len(names))
    width = 0.8 / len(DESIGNS)
    colours = {"Fused-Layer": "#999999", "SparTen": "#4477aa", "ISOSceles-single": "#ccbb44",
               "ISOSceles": "#ee6677"}
    paths = []

    def save(fig, filename):
        path = Path(out_dir) / filename
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
        plt.close(fig)
        paths.append(path)

    def bars(key, ylabel, title, filename, *, log=False, paper=None):
        fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 3.6))
        for i, design in enumerate(DESIGNS):
            ax.bar([j + (i - 1.5) * width for j in x], [net[n][key][design] for n in names],
                   width, label=design, color=colours[design])
        if paper:
            marks = [(j, paper[n]) for j, n in enumerate(names) if paper.get(n)]
            if marks:
                ax.scatter([j + 1.5 * width for j, _ in marks], [v for _, v in marks],
                           marker="*", s=90, color="black", zorder=3, label="paper, ISOSceles")
        ax.set_xticks(list(x), names)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        save(fig, filename)

    bars("speedup_vs_fused_layer", "speedup over Fused-Layer", "Fig. 14a: speedup",
         "fig14a_speedup.png", paper=PAPER["speedup_vs_fused_layer"])
    bars("cycles", "cycles", "Fig. 14b: cycles", "fig14b_cycles.png", log=True)
    bars("bandwidth_utilization", "DRAM bandwidth utilisation",
         "Fig. 15: bandwidth utilisation", "fig15_bandwidth_utilization.png")
    bars("mac_utilization", "MAC utilisation", "Fig. 16: MAC utilisation",
         "fig16_mac_utilization.png")

    # The paper quotes its per-network results against SparTen: plot ours beside them.
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 3.6))
    ax.bar([j - 0.2 for j in x], [net[n]["single_speedup_vs_sparten"] for n in names], 0.4,
           label="ISOSceles-single", color=colours["ISOSceles-single"])
    ax.bar([j + 0.2 for j in x], [net[n]["speedup_vs_sparten"] for n in names], 0.4,
           label="ISOSceles", color=colours["ISOSceles"])
    marks = [(j, PAPER["speedup_vs_sparten"][n]) for j, n in enumerate(names)
             if n in PAPER["speedup_vs_sparten"]]
    low, high = PAPER["speedup_vs_sparten_resnet_range"]
    ranges = [j for j, n in enumerate(names) if NETWORK_OF.get(n) == "ResNet-50"]
    if marks:
        ax.scatter([j + 0.2 for j, _ in marks], [v for _, v in marks], marker="*", s=90,
                   color="black", zorder=3, label="paper, ISOSceles")
    if ranges:
        ax.vlines([j + 0.2 for j in ranges], low, high, color="black", linewidth=2, zorder=3,
                  label="paper, ResNet-50 range")
    ax.axhline(1.0, color="#4477aa", linewidth=0.8)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("speedup over SparTen")
    ax.set_title("Speedup over SparTen (Sec. VI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, "speedup_vs_sparten.png")

    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 3.6))
    hatches = {"input": "", "weights": "//", "output": "..", "partials": "xx"}
    for i, design in enumerate(DESIGNS):
        bottom = [0.0] * len(names)
        for kind in TRAFFIC_KINDS:
            values = [net[n]["traffic_vs_fused_layer"][design][kind] for n in names]
            ax.bar([j + (i - 1.5) * width for j in x], values, width, bottom=bottom,
                   color=colours[design], hatch=hatches[kind], edgecolor="black", linewidth=0.3,
                   label=design if kind == "input" else None)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(list(x), names)
    ax.set_ylabel("traffic / Fused-Layer")
    ax.set_title("Fig. 14c: DRAM traffic by tensor "
                 "(plain input, // weights, .. output, xx partials)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, "fig14c_traffic.png")
    return paths


def _document(results, summary, *, config, seed, options, densities_file):
    return {
        "config": {"lanes": config.lanes, "macs_per_lane": config.macs_per_lane,
                   "filter_buffer_bytes": config.filter_buffer_bytes,
                   "context_bytes": config.context_bytes, "queue_bytes": config.queue_bytes,
                   "kmerger_radix": config.kmerger_radix,
                   "layers_in_flight": config.layers_in_flight, "clock_hz": config.clock_hz,
                   "dram_bytes_per_cycle": config.dram_bytes_per_cycle},
        "seed": seed,
        **options,
        "densities_file": densities_file and str(densities_file),
        "paper": PAPER,
        "summary": summary,
        "results": {name: {d: r.to_dict() for d, r in by_design.items()}
                    for name, by_design in results.items()},
    }


def read_densities(path):
    """A JSON file ``{variant: {tensor: activation density}}`` -> that mapping (checked)."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"densities file {path} is not JSON ({error}); write "
                         f'{{"R96": {{"conv1": 0.41, ...}}}}') from error
    if not isinstance(document, dict) or not all(
            isinstance(v, dict) for v in document.values()):
        raise ValueError(f"densities file {path} must map each network to a "
                         f'{{tensor: density}} object, as {{"R96": {{"conv1": 0.41}}}}')
    unknown = sorted(set(document) - set(VARIANTS))
    if unknown:
        raise ValueError(f"densities file {path}: unknown network(s) {', '.join(unknown)}; "
                         f"valid names are {', '.join(VARIANTS)}")
    return document


def _nonzero_fraction(array):
    return float(np.count_nonzero(array)) / array.size


def load_network(path):
    """The workload file ``path`` as the performance model's
    :class:`~isosceles.perf.workloads.Workload`. A file that gives any layer's ``tensors`` is
    modelled at the densities of the golden model's tensors (the given ones, the drawn ones of
    the other layers, and every layer's output), measured as their nonzero fractions."""
    if all(layer.tensors is None for layer in read_workload_spec(path).layers):
        return load_workload(path)
    golden = load_golden_workload(path).layers
    weights = {layer.name: _nonzero_fraction(layer.weights) for layer in golden
               if layer.weights is not None}
    activations = {layer.name: _nonzero_fraction(layer.output) for layer in golden}
    activations |= {f"{layer.name}.input": _nonzero_fraction(layer.input) for layer in golden
                    if layer.source is None}
    return load_workload(path, weight_densities=weights, activation_densities=activations)


def run_model(args):
    """The ``isosceles model`` command."""
    names = parse_variants(args.networks or ("" if args.workload else "all")) \
        if args.networks or not args.workload else ()
    networks = [load_network(path) for path in args.workload or ()]
    densities = read_densities(args.densities) if args.densities else {}
    check_writable(args.out, folder=True)
    if args.json:
        check_writable(args.json)
    config = load_config(args, default=IsoscelesConfig.paper)
    options = {"pooled_mergers": args.pooled_mergers,
               "merger_tokens_per_cycle": args.merger_rate}
    results = evaluate(names, seed=args.seed, config=config, densities=densities,
                       networks=networks, **options)
    summary = summarize(results, networks)
    print(format_report(results, summary, config=config, seed=args.seed, densities=densities,
                        densities_file=args.densities, **options), end="")
    paths = write_plots(summary, args.out)
    print(f"\nplots: {', '.join(str(p) for p in paths)}")
    if args.json:
        write_json(args.json, _document(results, summary, config=config, seed=args.seed,
                                        options=options, densities_file=args.densities))
        print(f"json: {args.json}")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "model", help="paper-scale performance model: ISOSceles vs SparTen and Fused-Layer")
    add_config_argument(parser, default="the published design, configs/paper.toml")
    parser.add_argument("--networks",
                        help=f"'all' (the default without --workload) or a comma-separated list "
                             f"of {','.join(VARIANTS)}")
    parser.add_argument("--workload", metavar="NET.toml", action="append", type=existing_file,
                        help="also run this network, a workload file of the IS-OS block's "
                             "format (repeatable; see perf/workload_file.py)")
    parser.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    parser.add_argument("--out", metavar="DIR", default="reports/model",
                        help="folder for the PNG plots (default: reports/model)")
    parser.add_argument("--seed", default=0, type=int,
                        help="seed of the activation-density and row-nonzero draws")
    parser.add_argument("--densities", metavar="FILE", type=existing_file,
                        help='measured activation densities, JSON {"R96": {"conv1": 0.41, ...}} '
                             "(tensor = the layer that writes it); they replace the synthetic "
                             "ones")
    parser.add_argument("--merger-rate", default=1.0, type=float, metavar="TOKENS",
                        help="output tokens a layer's backend merger emits per cycle per lane "
                             "(default 1, the RTL's)")
    parser.add_argument("--pooled-mergers", action="store_true",
                        help="sensitivity study: let a layer use idle mergers of its lane")
    parser.set_defaults(func=run_model)
