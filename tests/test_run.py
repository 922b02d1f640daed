"""`isosceles run` checks a workload against the configuration before any build, and names the
first output that differs from the golden model."""

import pytest

from isosceles.gen.cli import main
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import RunMismatch, _check_layer
from isosceles.golden.isos import isos_streams
from isosceles.golden.workload_file import load_workload

LAYER = """
[[layer]]
name = "wide"
type = "conv"
input = [6, 6, 4]
kernel = [{R}, {S}]
out_channels = {K}
weight_density = 0.5
activation_density = 0.5
seed = 3
"""


@pytest.mark.parametrize("shape, message", [
    (dict(R=5, S=3, K=4), "layer 'wide' has filter height R = 5, above 3 (raise max_kernel"),
    (dict(R=3, S=3, K=40), "layer 'wide' has output channels K = 40, above 32 (raise "
                           "max_channels"),
])
def test_a_layer_the_core_cannot_run_is_refused_before_any_build(shape, message, tmp_path,
                                                                 capsys):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(**shape))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _golden_rows(layer, config):
    i, f, stride, padding, groups = layer.conv_arguments()
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                     numerics=config.numerics, pou=layer.pou)
    return [[dict(token) for token in row] for row in s.outputs]


def test_a_mismatch_names_the_first_differing_coordinate(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(R=3, S=3, K=4))
    config = IsoscelesConfig()
    (layer,) = load_workload(path).layers
    rows = _golden_rows(layer, config)
    figures = _check_layer(layer, rows, config)
    assert figures["output_tokens"] == sum(map(len, rows))
    p, index = next((p, n) for p, row in enumerate(rows) for n, t in enumerate(row)
                    if not t["marker"])
    token = rows[p][index]
    token["value"] += 1 if token["value"] < 127 else -1
    with pytest.raises(RunMismatch, match=rf"output \[p={p}, q={token['q']}, k={token['k']}\]"):
        _check_layer(layer, rows, config)


def test_a_reordered_row_is_a_mismatch_even_with_equal_values(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(LAYER.format(R=3, S=3, K=4))
    config = IsoscelesConfig()
    (layer,) = load_workload(path).layers
    rows = _golden_rows(layer, config)
    p = next(p for p, row in enumerate(rows) if sum(not t["marker"] for t in row) >= 2)
    data = [n for n, t in enumerate(rows[p]) if not t["marker"]][:2]
    rows[p][data[0]], rows[p][data[1]] = rows[p][data[1]], rows[p][data[0]]
    with pytest.raises(RunMismatch, match=f"output row {p} token {data[0]}"):
        _check_layer(layer, rows, config)
