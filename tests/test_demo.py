"""`isosceles demo` checks the golden model, prints every interface's traffic and runs a shipped
layer on the core's RTL, bit-exact."""

from isosceles.gen.cli import main


def test_demo_passes_and_reports(capsys):
    assert main(["demo", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "== dense reference" in out and ": OK" in out
    interfaces = ("I   input lanes", "T1  PE outputs", "T2  R-merger outputs", "O   POU outputs")
    for interface in interfaces:
        assert interface in out
    assert "peak live partial sums per lane" in out
    assert "resnet_3x3.toml: bit-exact against the golden model" in out
    assert "MAC util" in out
