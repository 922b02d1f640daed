"""The core's cycle model (``isosceles.perf.core_cycles``): its counts are the RTL's and the
golden model's; the calibration against the RTL itself is ``tb/test_calibration.py``."""

from pathlib import Path

import numpy as np
import pytest

from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.bands import bands
from isosceles.golden.isos import filter_fibers, isos_streams
from isosceles.golden.pou import PouParams
from isosceles.golden.workload_file import load_workload
from isosceles.hw.filter_buffer import fiber_span, pack_filter_fibers
from isosceles.hw.pe import FrontendLane
from isosceles.perf.core_cycles import (
    context_banks,
    context_window,
    fiber_spans,
    fill_channels,
    layer_band_cycles,
    predict_conv_cycles,
    span_words,
)
from isosceles.perf.isosceles_model import predict_layer_cycles
from isosceles.perf.workloads import layer_workload

ROOT = Path(__file__).resolve().parent.parent


def _layer(rng, *, H, W, C, K, R, S, stride, padding, groups, dw, di, signed=True):
    low = -128 if signed else 0
    i = rng.integers(low, 128, (H, W, C)) * (rng.random((H, W, C)) < di)
    f = rng.integers(low, 128, (C // groups, R, K, S)) * (rng.random((C // groups, R, K, S)) < dw)
    return i, f, stride, padding, groups


LAYERS = [dict(H=7, W=6, C=8, K=8, R=3, S=3, stride=1, padding=(1, 1), groups=1),
          dict(H=8, W=7, C=6, K=4, R=3, S=2, stride=2, padding=(2, 1), groups=2),
          dict(H=6, W=8, C=4, K=4, R=3, S=3, stride=3, padding=(0, 2), groups=4),
          dict(H=5, W=5, C=8, K=8, R=1, S=1, stride=1, padding=(0, 0), groups=1)]


@pytest.mark.parametrize("macs_per_pe", [1, 4, 8])
@pytest.mark.parametrize("shape", LAYERS)
def test_fiber_spans_are_the_filter_buffers_bank_aware_packing(shape, macs_per_pe):
    rng = np.random.default_rng(macs_per_pe)
    R = shape["R"]
    for dw in (0.1, 0.5, 1.0):
        _, f, _, _, groups = _layer(rng, dw=dw, di=0.5, **shape)
        banks = context_banks(macs_per_pe)
        image = pack_filter_fibers(filter_fibers(f, groups), macs_per_pe=macs_per_pe,
                                   max_kernel=R, words=1 << 16, banks=banks)
        spans = fiber_spans(f, groups, macs_per_pe=macs_per_pe, banks=banks)
        for span, pointer in zip(spans, image.pointers, strict=True):
            for lo in range(R):
                for hi in range(lo, R):
                    assert span_words(span, [lo, hi]) == fiber_span(pointer, lo, hi)[1]


@pytest.mark.parametrize("macs_per_pe, max_kernel", [(1, 1), (4, 3), (8, 3), (5, 5), (64, 7)])
def test_banks_and_window_are_the_lanes(macs_per_pe, max_kernel):
    lane = FrontendLane(macs_per_pe=macs_per_pe, max_kernel=max_kernel, max_channels=8,
                        max_columns=8, filter_words=64)
    assert context_banks(macs_per_pe) == lane.parameters["banks"]
    assert context_window(max_kernel) == lane.parameters["window"]


@pytest.mark.parametrize("shape", LAYERS)
def test_each_bands_counts_are_the_golden_models(shape):
    """With non-negative tensors no partial sum cancels, so the lanes' live partial sums are
    their T1 tokens and the merged keys the row's accumulations: the busiest lane's walk,
    retirement and the busiest merger's tokens in each band are the golden streams'."""
    config = IsoscelesConfig(lanes=5, macs_per_pe=4)
    rng = np.random.default_rng(7)
    i, f, stride, padding, groups = _layer(rng, dw=0.4, di=0.5, signed=False, **shape)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups)
    spans = fiber_spans(f, groups, macs_per_pe=4, banks=context_banks(4))
    predicted = layer_band_cycles(config, i, f, stride=stride, padding=padding, groups=groups)
    g = s.geometry
    assert len(predicted) == len(bands(g, config.lanes))
    for band, model in zip(bands(g, config.lanes), predicted, strict=True):
        lanes = band.input_rows()
        assert model.first_row == band.first_row
        assert model.walk == max(
            sum(max(1, span_words(spans[t["c"]], band.filter_rows(lane)))
                if not t["marker"] else 1 for t in s.inputs[h]) for lane, h in lanes.items())
        assert model.retire == max(sum(1 for t in s.t1[h]
                                       if t["marker"] or t["r"] in band.filter_rows(lane))
                                   for lane, h in lanes.items())
        assert model.merge == max(len(s.kmerger_out[band.first_row + j])
                                  for j in range(band.rows))
        assert model.cycles >= max(model.walk, model.retire, model.merge)


def test_fill_channels_are_those_whose_zero_requantizes_to_nonzero():
    pou = PouParams.make(np.array([0, 500, -500, 500]), np.array([1, 1000, 1000, 0]),
                         np.array([0, 4, 4, 4]), relu=True)
    assert fill_channels(pou, 4, IsoscelesConfig().numerics).tolist() == [False, True, False,
                                                                          False]
    assert not fill_channels(None, 4, IsoscelesConfig().numerics).any()


def test_fill_channels_cost_the_pou_a_cycle_each_in_every_column():
    config = IsoscelesConfig()
    i = np.zeros((1, 6, 4), dtype=np.int64)
    f = np.ones((4, 3, 8, 3), dtype=np.int64)
    quiet = PouParams.make(np.zeros(8, int), np.ones(8, int), np.zeros(8, int))
    loud = PouParams.make(np.full(8, 100), np.ones(8, int), np.zeros(8, int))
    (empty,) = layer_band_cycles(config, i, f, padding=1, pou=quiet)
    (filled,) = layer_band_cycles(config, i, f, padding=1, pou=loud)
    assert (empty.pou, filled.pou) == (6, 6 * 9)
    assert filled.cycles - empty.cycles >= 6 * 8


def test_a_memory_term_adds_to_every_band():
    config = IsoscelesConfig()
    i, f, stride, padding, groups = _layer(np.random.default_rng(3), dw=0.3, di=0.5,
                                           **LAYERS[0])
    plain = predict_conv_cycles(config, i, f, padding=padding)
    slower = predict_conv_cycles(config, i, f, padding=padding, memory=lambda band: 100)
    assert slower == plain + 100 * len(layer_band_cycles(config, i, f, padding=padding))


def test_predict_layer_cycles_costs_a_drawn_workload_on_the_core():
    config = IsoscelesConfig()
    drawn = load_workload(ROOT / "workloads/bench/layers.toml", numerics=config.numerics)
    cycles = predict_layer_cycles(config, drawn)
    assert list(cycles) == [layer.name for layer in drawn.layers]
    layer = drawn.layers[0]
    i, f, stride, padding, groups = layer.conv_arguments()
    assert cycles[layer.name] == predict_conv_cycles(config, i, f, stride=stride,
                                                     padding=padding, groups=groups,
                                                     pou=layer.pou)
    densities = layer_workload(rows=8, cols=8, channels=8, kernels=8, weight_density=0.5,
                               input_density=0.5, seed=1)
    with pytest.raises(ValueError, match="memory is a term of the core model"):
        predict_layer_cycles(config, densities, memory=lambda band: 1)
    with pytest.raises(ValueError, match="config must be an IsoscelesConfig"):
        layer_band_cycles("small", drawn.layers[0].input, drawn.layers[0].weights)
