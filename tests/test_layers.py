"""The package shows its pipeline: stage folders with a table of contents, imports only downwards,
no cycles, and the public API importable from ``lit_extract`` itself.

The stage order is written out here (not read from the package), so a new stage or a reordering
must be stated twice. The import graph is grimp's (import-linter's own graph builder), which sees
every import of a module, at its top and inside functions.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import lit_extract

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["commands", "extract", "encoders", "evaluate", "store", "indexing", "decode"]  # top to bottom
LEVEL = {"commands": 0, "extract": 1, "encoders": 2, "evaluate": 2, "store": 3, "indexing": 4, "decode": 5}
FOUNDATION = {"lit_extract.errors", "lit_extract.atomic"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("lit_extract", exclude_type_checking_imports=True)


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LEVEL else None


def test_every_module_lives_in_a_stage_folder_or_is_the_foundation(graph: grimp.ImportGraph) -> None:
    stray = sorted(m for m in graph.modules
                   if stage_of(m) is None and m not in FOUNDATION | {"lit_extract", "lit_extract.__main__"})
    assert stray == []


def test_every_stage_folder_has_a_docstring_naming_each_of_its_modules() -> None:
    for stage in STAGES:
        package = importlib.import_module(f"lit_extract.{stage}")
        doc = package.__doc__ or ""
        assert doc.strip(), stage
        folder = ROOT / "lit_extract" / stage
        for path in folder.iterdir():
            name = path.stem if path.suffix == ".py" else path.name
            if name.startswith("__") or (path.is_dir() and not (path / "__init__.py").exists()):
                continue
            assert f"{stage}.{name}" in doc, f"lit_extract/{stage}/__init__.py's docstring does not name {name}"


def test_no_module_imports_from_a_higher_stage(graph: grimp.ImportGraph) -> None:
    upward = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = stage_of(importer), stage_of(imported)
            if importer in FOUNDATION and imported not in FOUNDATION:
                upward.append((importer, imported))
            elif a and b and LEVEL[b] < LEVEL[a]:
                upward.append((importer, imported))
    assert upward == []


def test_the_import_graph_has_no_cycles(graph: grimp.ImportGraph) -> None:
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i != m} for m in graph.modules}
    # a package imports its own submodules to list them; that is containment, not a cycle
    for m in edges:
        edges[m] = {i for i in edges[m] if not i.startswith(m + ".")}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(edges.get(module, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [module, nxt])
                                     if nxt in path else f"import cycle through {module} -> {nxt}")
            if nxt not in state:
                visit(nxt, path + [module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_import_linter_keeps_the_layers_contract_in_pyproject() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("name", sorted(lit_extract.__all__))
def test_each_public_name_imports_from_the_package_itself(name: str) -> None:
    value = getattr(lit_extract, name)
    assert getattr(value, "__name__", name) == name


def test_the_public_api_names_the_classes_a_notebook_needs() -> None:
    assert {"ClipDataModule", "FrozenVideoEncoder", "EmbeddingWriter", "EmbeddingDataModule", "LinearProbe",
            "build_index", "load_index", "read_manifest", "open_split"} <= set(lit_extract.__all__)


def test_importing_the_package_loads_neither_torch_nor_lightning() -> None:
    code = "import sys, lit_extract; print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
