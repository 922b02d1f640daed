"""Dependencies run one way: configuration and numerics at the bottom; ``hw``, ``golden`` and the
performance model ``perf`` above them; ``gen`` (the command line) on top."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOTTOM = {"isosceles.gen.config", "isosceles.golden.numerics", "isosceles.golden.checks",
          "isosceles.golden.workload_spec", "isosceles.golden.bands"}


def _imports(folder):
    """``{file: set of isosceles modules it imports}`` for every module of ``folder``."""
    found = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = {n for n in names if n.startswith("isosceles.")}
    return found


@pytest.mark.parametrize("folder, own", [("golden", "isosceles.golden"), ("hw", "isosceles.hw"),
                                         ("perf", "isosceles.perf")])
def test_lower_packages_import_no_higher_one(folder, own):
    for name, modules in _imports(folder).items():
        for module in modules:
            allowed = module in BOTTOM or module.startswith(own + ".") or module == own or (
                folder == "hw" and module.startswith("isosceles.golden."))
            assert allowed, f"{folder}/{name} imports {module}"


def test_the_workload_reader_imports_only_the_numerics_and_the_checks():
    assert _imports("golden")["workload_spec.py"] <= {"isosceles.golden.numerics",
                                                      "isosceles.golden.checks"}


def test_the_performance_model_has_its_own_package():
    assert {"isosceles_model.py", "baselines.py", "workloads.py", "results.py"} <= set(
        _imports("perf"))
    assert not {"perfmodel.py", "perf_baselines.py", "workloads.py"} & set(_imports("golden"))
