"""Invariants of the performance models and the ``isosceles model`` command."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.model import ALTERNATIVES, DESIGNS, PAPER, evaluate, summarize
from isosceles.perf.baselines import (
    FusedLayerModel,
    SparTenConfig,
    SparTenModel,
    bitmask_bits,
    expected_max_normal,
)
from isosceles.perf.isosceles_model import (
    IsoscelesModel,
    compressed_bits,
    compulsory_bytes,
    expected_ceil_binomial,
    predict_layer_cycles,
)
from isosceles.perf.workload_file import load_workload
from isosceles.perf.workloads import VARIANTS, layer_workload, workload


@pytest.fixture(scope="module")
def results():
    return evaluate(VARIANTS)


def test_every_group_is_bounded_by_compute_and_memory(results):
    for name, by_design in results.items():
        for design, result in by_design.items():
            bandwidth = result.dram_bytes_per_cycle
            for group in result.groups:
                where = f"{name} {design} {group.layers[0]}"
                assert group.cycles >= group.compute_cycles, where
                assert group.cycles >= group.merger_cycles, where
                assert group.cycles >= sum(group.traffic.values()) / bandwidth - 1e-6, where
                assert group.cycles >= group.macs / result.peak_macs_per_cycle, where
            assert 0 < result.mac_utilization <= 1 and 0 < result.bandwidth_utilization <= 1


def test_traffic_is_at_least_compulsory(results):
    for name, by_design in results.items():
        for design, result in by_design.items():
            assert result.traffic_bytes >= result.compulsory_bytes * (1 - 1e-9), (name, design)
        iso = by_design["ISOSceles"]
        assert iso.compulsory_bytes == compulsory_bytes(workload(name), IsoscelesConfig().numerics)


def test_pipelining_never_costs_traffic_or_time(results):
    for name, by_design in results.items():
        single, iso = by_design["ISOSceles-single"], by_design["ISOSceles"]
        assert iso.traffic_bytes <= single.traffic_bytes * (1 + 1e-9), name
        assert iso.cycles <= single.cycles * (1 + 1e-9), name
        assert all(len(g.layers) == 1 for g in single.groups)


def test_sparten_moves_at_least_what_isosceles_single_moves(results):
    for name, by_design in results.items():
        sparten, single = by_design["SparTen"], by_design["ISOSceles-single"]
        assert sparten.traffic_bytes >= single.traffic_bytes, name


def test_sparse_designs_do_about_the_effectual_macs(results):
    for name, by_design in results.items():
        effectual = workload(name).sparse_macs
        # Padding positions are not effectual (a few % fewer); halos are recomputed (more).
        assert by_design["ISOSceles-single"].macs == pytest.approx(effectual, rel=0.05), name
        assert by_design["ISOSceles"].macs == pytest.approx(effectual, rel=0.12), name
        assert by_design["SparTen"].macs == pytest.approx(effectual), name
        assert by_design["Fused-Layer"].macs == workload(name).dense_macs


@pytest.mark.parametrize("name, weight_scale, activation_scale",
                         [("R96", 1.5, 1.0), ("R96", 1.0, 1.3), ("M89", 2.0, 1.5),
                          ("V90", 1.5, 1.0), ("G58", 2.0, 1.5)])
def test_denser_is_never_faster(name, weight_scale, activation_scale):
    sparse = workload(name)
    dense = sparse.scaled(weight_scale, activation_scale)
    for model in (IsoscelesModel(), IsoscelesModel(pipelined=False), SparTenModel(),
                  FusedLayerModel()):
        assert model.run(dense).cycles >= model.run(sparse).cycles * (1 - 1e-9), model.name


def test_pipelines_never_exceed_the_buffers(results):
    cfg = IsoscelesConfig.paper()
    for name, by_design in results.items():
        w = workload(name)
        # A lane's mergers serve the K-merger of every layer in flight and every skip add.
        mergers = {layer.name: (layer.kind in ("conv", "gap")) + (layer.residual is not None)
                   for layer in w.layers}
        for design in ("ISOSceles", "ISOSceles-single"):
            for group in by_design[design].groups:
                where = f"{name} {design} {group.layers[0]}"
                buffers = group.buffers
                assert buffers["filter"] <= cfg.filter_buffer_bytes, where
                assert buffers["context"] <= cfg.context_bytes, where
                assert buffers["queue"] <= cfg.queue_bytes, where
                assert sum(mergers[layer] for layer in group.layers) <= cfg.layers_in_flight, \
                    where
                if group.pipelined:
                    assert buffers["queue"] > 0 and buffers["context"] > 0, where


def test_smaller_buffers_give_shorter_pipelines():
    w = workload("R98")
    paper = IsoscelesConfig.paper()

    def lengths(config, grouping):
        return [len(g.layers) for g in IsoscelesModel(config, grouping=grouping).run(w).groups]

    for grouping in ("greedy", "block"):
        for small in (paper.replace(queue_bytes=2048), paper.replace(context_bytes=1024)):
            assert len(lengths(small, grouping)) > len(lengths(paper, grouping)), grouping
    assert max(lengths(paper.replace(queue_bytes=2048), "greedy")) < max(lengths(paper, "greedy"))
    assert max(lengths(paper.replace(context_bytes=1024), "greedy")) < max(
        lengths(paper, "greedy"))
    assert max(lengths(paper.replace(layers_in_flight=2), "greedy")) == 2


def test_baselines_share_the_memory_system_of_the_configuration():
    config = IsoscelesConfig.paper(dram_bytes_per_cycle=64.0)
    by_design = evaluate(["G58"], config=config)["G58"]
    assert {r.dram_bytes_per_cycle for r in by_design.values()} == {64.0}


def test_calibration_seam_predicts_each_layer_of_the_rtl_configuration():
    small = IsoscelesConfig()
    w = layer_workload(rows=8, cols=8, channels=32, kernels=32, weight_density=0.25,
                       input_density=0.5, seed=2)
    cycles = predict_layer_cycles(small, w)
    assert list(cycles) == [layer.name for layer in w.layers]
    assert all(type(c) is int for c in cycles.values())  # whole cycles, plain Python ints
    (layer,) = w.layers
    compute_bound = w.effectual_macs(layer) / (small.lanes * small.macs_per_lane)
    memory_bound = compulsory_bytes(w, small.numerics) / small.dram_bytes_per_cycle
    assert cycles[layer.name] >= max(compute_bound, memory_bound)
    # Halving the multipliers of every PE cannot make the layer faster.
    slower = predict_layer_cycles(small.replace(macs_per_pe=4), w)
    assert slower[layer.name] >= cycles[layer.name]
    with pytest.raises(ValueError, match="config must be an IsoscelesConfig"):
        predict_layer_cycles("small", w)


def test_pooled_mergers_are_never_slower():
    w = workload("R96")
    assert IsoscelesModel(pooled_mergers=True).run(w).cycles <= IsoscelesModel().run(w).cycles


def test_runs_with_the_rtl_configuration():
    small = IsoscelesConfig()
    w = layer_workload(rows=16, cols=16, channels=16, kernels=16, weight_density=0.3,
                       input_density=0.5, seed=1)
    result = IsoscelesModel(small).run(w)
    (group,) = result.groups
    # 16 output rows on 4 lanes: a band of 2 output rows reads 4 input rows (3x3, padding 1).
    assert group.bands == 8
    assert result.peak_macs_per_cycle == small.lanes * small.macs_per_lane
    # A lane holds a band's row: the work cannot beat the 4 x 8 MACs of the instance.
    assert result.cycles >= w.sparse_macs / (small.lanes * small.macs_per_lane)
    assert IsoscelesModel(small).run(w).cycles == result.cycles  # deterministic


def test_workload_larger_than_the_configuration_is_rejected():
    with pytest.raises(ValueError, match="layer 'conv1' has kernel 7, "
                                         "above the configuration's 4"):
        IsoscelesModel(IsoscelesConfig()).run(workload("R96"))
    with pytest.raises(ValueError, match="config must be an IsoscelesConfig"):
        IsoscelesModel("paper")
    with pytest.raises(ValueError, match="dram_latency_cycles must be a non-negative integer"):
        IsoscelesModel(dram_latency_cycles=-1)


def test_a_layer_that_does_not_fit_names_the_buffer_what_it_needs_and_has():
    w = layer_workload(rows=8, cols=8, channels=8, kernels=8, weight_density=0.5,
                       input_density=0.5)
    # One output channel per lane (K tiled 8 ways) still keeps 3 x 3 16-bit partial sums.
    with pytest.raises(ValueError, match=r"layer 'layer' does not fit .*: context_bytes "
                                         r"\(per lane\) needs 18, the configuration has 16"):
        IsoscelesModel(IsoscelesConfig(context_bytes=16)).run(w)
    with pytest.raises(ValueError, match=r"layers_in_flight \(mergers per lane\) needs 2, the "
                                         r"configuration has 1"):
        IsoscelesModel(IsoscelesConfig(layers_in_flight=1)).run(residual_workload())


def residual_workload():
    """A 1x1 convolution whose output is added to its input (a skip connection)."""
    from isosceles.perf.workloads import Layer, Tensor, Workload
    layer = Layer("res", "conv", "input", 8, 8, 8, 8, residual="input", weight_density=0.5)
    return Workload("res", "res", (layer,), (Tensor("input", 8, 8, 8, 0.5),
                                             Tensor("res", 8, 8, 8, 0.5)), 0)


def test_sparten_reads_the_input_of_a_layer_without_weights_that_exceeds_on_chip_memory():
    w = workload("R96")
    small = SparTenModel(SparTenConfig(cluster_buffer_bytes=1024))
    for layer, group in zip(w.layers, small.run(w).groups, strict=True):
        if layer.has_weights:
            continue
        source = w.tensor(layer.input)
        assert group.traffic["input"] >= bitmask_bits(
            source.rows * source.cols, source.channels, source.density, value_bits=8) / 8, \
            layer.name


def test_expected_ceil_binomial():
    assert expected_ceil_binomial(0, 0.3, 8) == 0
    assert expected_ceil_binomial(20, 1.0, 8) == 3
    assert expected_ceil_binomial(50, 0.2, 1) == pytest.approx(10.0)
    seed = 1234
    print(f"seed {seed}")
    draws = np.random.default_rng(seed).binomial(300, 0.07, size=200_000)
    assert expected_ceil_binomial(300, 0.07, 8) == pytest.approx(np.ceil(draws / 8).mean(),
                                                                 abs=0.01)
    # A fractional fiber length interpolates between its neighbours.
    low, high = expected_ceil_binomial(9, 0.5, 8), expected_ceil_binomial(10, 0.5, 8)
    assert low < expected_ceil_binomial(9.5, 0.5, 8) < high


def test_expected_max_normal():
    assert expected_max_normal(1) == pytest.approx(0.0, abs=1e-9)
    assert expected_max_normal(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-6)
    assert expected_max_normal(64) == pytest.approx(2.343, abs=0.002)


@pytest.mark.parametrize("fibers, length", [(1, 1), (3136, 64), (50176, 3), (64, 2304),
                                            (25088, 4096)])
@pytest.mark.parametrize("density", [0.001, 0.05, 0.3, 0.7, 1.0])
def test_isosceles_format_is_never_larger_than_bitmask_or_dense(fibers, length, density):
    bits = compressed_bits(fibers, length, density, value_bits=8)
    assert bits <= bitmask_bits(fibers, length, density, value_bits=8)
    assert bits <= fibers * length * 8


def test_summary_matches_the_paper_table_keys(results):
    overall = summarize(results)["overall"]
    for key in ("speedup_vs_sparten_gmean", "traffic_reduction_vs_sparten_gmean",
                "speedup_vs_fused_layer_gmean", "traffic_reduction_vs_fused_layer_gmean",
                "mac_utilization_vs_sparten", "isosceles_not_bandwidth_bound"):
        assert key in overall and key in PAPER
    assert set(overall["mac_utilization_mean"]) == set(DESIGNS)


def test_model_command_writes_report_plots_and_json(tmp_path, capsys):
    out, report = tmp_path / "plots", tmp_path / "model.json"
    assert main(["model", "--networks", "R96,G58", "--json", str(report),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for heading in ("Fig. 14a", "Fig. 14b", "Fig. 14c", "Fig. 15   DRAM bandwidth",
                    "Fig. 16   MAC utilisation", "R96 ablation", "SparTen readings",
                    "Pipeline grouping: per block (the paper's, headline) and greedy",
                    "What bounds ISOSceles", "headline figures: SparTen in the paper's reading",
                    "R96   synthetic: a seeded uniform draw",
                    "speedup over SparTen, gmean"):
        assert heading in text
    document = json.loads(report.read_text())
    assert set(document["results"]) == {"R96", "G58"}
    assert set(document["results"]["R96"]) == set(DESIGNS + ALTERNATIVES)
    assert document["paper"]["speedup_vs_sparten_gmean"] == 4.3
    r96 = document["summary"]["networks"]["R96"]
    assert r96["cycles"]["ISOSceles"] == document["results"]["R96"]["ISOSceles"]["cycles"]
    for key in ("cycles", "speedup_vs_fused_layer", "traffic_vs_fused_layer",
                "mac_utilization", "bandwidth_utilization", "speedup_vs_sparten",
                "traffic_reduction_vs_sparten", "single_speedup_vs_sparten",
                "pipelining_speedup", "pipelining_traffic_reduction", "layers_per_pipeline"):
        assert key in r96, key
    assert set(r96["traffic_vs_fused_layer"]["SparTen"]) == {"input", "weights", "output",
                                                            "partials"}
    group = document["results"]["R96"]["ISOSceles"]["groups"][0]
    assert {"layers", "cycles", "bound", "compute_cycles", "merger_cycles", "memory_cycles",
            "traffic_bytes", "buffer_bytes"} <= set(group)
    assert set(document["results"]["R96"]["ISOSceles"]["groups"][2]["buffer_bytes"]) == {
        "filter", "context", "queue"}
    pngs = sorted(p.name for p in out.iterdir())
    assert pngs == ["fig14a_speedup.png", "fig14b_cycles.png", "fig14c_traffic.png",
                    "fig15_bandwidth_utilization.png", "fig16_mac_utilization.png",
                    "speedup_vs_sparten.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_model_command_rejects_unknown_networks(capsys):
    assert main(["model", "--networks", "R96,R97"]) == 2
    err = capsys.readouterr().err
    assert "unknown network(s) R97" in err and "valid names are all, R81, R90" in err


def test_model_command_checks_its_outputs_before_working(tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the model ran before its outputs were checked")

    monkeypatch.setattr("isosceles.gen.model.evaluate", no_work)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["model", "--networks", "G58", "--json", str(blocker / "m.json"),
                 "--out", str(tmp_path / "plots")]) == 2
    assert f"cannot write to {blocker}" in capsys.readouterr().err
    assert main(["model", "--networks", "G58", "--json", str(tmp_path),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["model", "--networks", "G58", "--out", str(blocker / "plots")]) == 2
    assert f"cannot write to {blocker / 'plots'}" in capsys.readouterr().err


def _sparten(reading, **changes):
    return SparTenModel(SparTenConfig(reading=reading, **changes))


def test_sparten_paper_reading_rereads_the_input_once_per_group_of_64_filters():
    # 1x1, 256 filters: no halo, 4 groups of 64 filters.
    w = layer_workload(rows=56, cols=56, channels=64, kernels=256, kernel=1,
                       weight_density=0.1, input_density=0.5)
    source = w.tensor("input")
    once = bitmask_bits(56 * 56, 64, 0.5, value_bits=8) / 8
    paper = _sparten("paper").run(w).groups[0].traffic["input"]
    optimistic = _sparten("optimistic").run(w).groups[0].traffic["input"]
    assert source.density == 0.5
    assert optimistic == pytest.approx(once) and paper == pytest.approx(4 * once)
    # A tile larger than its cluster's buffer is re-read even in the optimistic reading.
    tiny = _sparten("optimistic", cluster_buffer_bytes=1024).run(w).groups[0].traffic["input"]
    assert tiny == pytest.approx(paper)


def test_sparten_reads_halos_of_each_clusters_output_tile():
    # 3x3 on 7x7 outputs: 49 clusters each read a 3x3 window (clipped at the edges).
    w = layer_workload(rows=7, cols=7, channels=64, kernels=64, kernel=3,
                       weight_density=0.1, input_density=0.5)
    once = bitmask_bits(7 * 7, 64, 0.5, value_bits=8) / 8
    traffic = _sparten("optimistic").run(w).groups[0].traffic["input"]
    windows = sum(min(r + 2, 7) - max(r - 1, 0) for r in range(7)) ** 2  # 19 x 19 = 361
    assert traffic == pytest.approx(once * windows / 49)
    with pytest.raises(ValueError, match="reading must be one of paper, optimistic, not 'x'"):
        SparTenConfig(reading="x")


def test_sparten_readings_bracket_each_other(results):
    for name, by_design in results.items():
        paper, optimistic = by_design["SparTen"], by_design["SparTen-optimistic"]
        assert paper.traffic_bytes >= optimistic.traffic_bytes, name
        assert paper.cycles >= optimistic.cycles, name


def test_block_grouping_cuts_pipelines_only_between_blocks(results):
    w = workload("R96")
    block_of = {layer.name: layer.block for layer in w.layers}
    groups = [g.layers for g in results["R96"]["ISOSceles"].groups]
    for layers in groups:
        blocks = {block_of[name] for name in layers}
        members = [n for n in block_of if block_of[n] in blocks]
        # Whole blocks, or (a block too big for one pipeline) part of a single block.
        assert list(layers) == members or len(blocks) == 1, layers
    greedy = [g.layers for g in results["R96"]["ISOSceles-greedy"].groups]
    assert greedy != groups
    assert any(len({block_of[n] for n in layers}) > 1 and
               [n for n in block_of if block_of[n] in {block_of[m] for m in layers}] !=
               list(layers) for layers in greedy)  # greedy does cut inside blocks
    with pytest.raises(ValueError, match="grouping must be one of block, greedy, not 'x'"):
        IsoscelesModel(grouping="x")


def test_backend_merger_rate_and_column_markers():
    w = layer_workload(rows=56, cols=56, channels=64, kernels=64, kernel=1,
                       weight_density=0.05, input_density=0.5)
    (one,) = IsoscelesModel(pipelined=False).run(w).groups
    (two,) = IsoscelesModel(pipelined=False, merger_tokens_per_cycle=2).run(w).groups
    markers = one.bands * 56  # a column marker per output column per band
    assert one.merger_cycles - markers == pytest.approx(2 * (two.merger_cycles - markers))
    assert two.merger_cycles - markers > 0
    with pytest.raises(ValueError, match="merger_tokens_per_cycle must be a positive number"):
        IsoscelesModel(merger_tokens_per_cycle=0)


def test_model_command_takes_measured_densities(tmp_path, capsys):
    given = tmp_path / "densities.json"
    given.write_text(json.dumps({"G58": {"3a_3x3_reduce": 0.2, "3a_5x5_reduce": 0.3}}))
    report = tmp_path / "m.json"
    assert main(["model", "--networks", "G58", "--densities", str(given), "--json", str(report),
                 "--out", str(tmp_path / "plots")]) == 0
    assert f"G58   2 tensors from {given}; the rest synthetic" in capsys.readouterr().out
    document = json.loads(report.read_text())
    assert document["densities_file"] == str(given)
    plain = evaluate(["G58"])["G58"]["ISOSceles"].cycles
    assert document["summary"]["networks"]["G58"]["cycles"]["ISOSceles"] != plain
    given.write_text(json.dumps({"R97": {"conv1": 0.2}}))
    assert main(["model", "--networks", "G58", "--densities", str(given),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "unknown network(s) R97" in capsys.readouterr().err
    given.write_text(json.dumps({"R96": {"conv1": 0.2}}))
    assert main(["model", "--networks", "G58", "--densities", str(given),
                 "--out", str(tmp_path / "plots")]) == 2
    assert "densities given for R96, which is not among the networks run" in \
        capsys.readouterr().err


def test_every_pipeline_boundary_says_why():
    result = IsoscelesModel().run(workload("R96"))
    first, *later = result.groups
    assert first.boundary is None and all(group.boundary for group in later)
    assert later[0].layers == ("maxpool",)
    assert later[0].boundary == "maxpool ends a pipeline and runs on its own"
    assert later[1].boundary == "maxpool runs on its own"
    assert any("layers_in_flight (mergers per lane) needs" in group.boundary for group in later)
    assert any("would move more DRAM bytes" in group.boundary for group in later)
    single = IsoscelesModel(pipelined=False).run(workload("R96"))
    assert {group.boundary for group in single.groups[1:]} == {"layer by layer"}


@pytest.mark.parametrize("field, value, reason", [
    ("filter_buffer_bytes", 650, "filter_buffer_bytes needs 707.8, the configuration has 650"),
    ("queue_bytes", 8, "queue_bytes (per lane) needs 54.6316, the configuration has 8"),
    ("layers_in_flight", 1, "layers_in_flight (mergers per lane) needs 2, the configuration "
                            "has 1"),
])
def test_a_boundary_names_the_buffer_the_layers_together_overflow(field, value, reason):
    w = load_workload(Path(__file__).resolve().parents[1] / "workloads" / "two_layers.toml")
    together = IsoscelesModel().run(w)
    assert [group.layers for group in together.groups] == [("conv_a", "conv_b")]
    apart = IsoscelesModel(replace(IsoscelesConfig.paper(), **{field: value})).run(w)
    assert [group.layers for group in apart.groups] == [("conv_a",), ("conv_b",)]
    assert apart.groups[1].boundary == f"conv_a and conv_b in one pipeline: {reason}; raise it " \
                                       "or give the layer fewer channels"
    assert apart.groups[1].to_dict()["boundary"] == apart.groups[1].boundary
