"""The notebooks under ``notebooks/`` run top to bottom on the demo data, and are saved executed.

The notebooks write everything under ``$LIT_EXTRACT_DEMO_DIR`` (default ``demo_data/`` next to the
notebook); here it is a tmp folder, and the kernel's working directory is tmp too, so nothing is
written into the checkout. The kernel is ``python3``: jupyter_client starts it with the
interpreter running pytest (``sys.executable``), i.e. the venv's python, from the kernelspec that
ipykernel ships (no ``ipykernel install --user`` needed).

``02_probe`` runs first, on an empty folder, so its fallback makes the embeddings; ``01_extract``
then rebuilds the same index and its ``predict`` finds every row done. The slow extraction thus
runs once, and both notebooks' paths are covered. About a minute on 2 CPU cores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lit_extract.manifest import inspect_manifest, manifest_path, read_manifest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_extract.ipynb", "02_probe.ipynb")


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    """Run every code cell of ``notebooks/<name>`` in a fresh kernel; raise on the first failing cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()  # CellExecutionError names the cell and the traceback
    return notebook


def output_types(notebook: nbformat.NotebookNode) -> set[str]:
    """``output_type``s and mime types of all outputs, e.g. {"stream", "display_data", "image/png"}."""
    found = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found.add(output["output_type"])
            found.update(output.get("data", {}))
    return found


@pytest.mark.timeout(400)
def test_notebooks_run_on_the_demo_data(tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    monkeypatch.setenv("LIT_EXTRACT_DEMO_DIR", str(demo))  # inherited by the kernel process

    probe_nb = execute("02_probe.ipynb", tmp_path)
    manifest = manifest_path(demo / "processed", "r3d_18")
    first_manifest = read_manifest(manifest)
    extract_nb = execute("01_extract.ipynb", tmp_path)

    assert read_manifest(manifest)["complete"]
    assert inspect_manifest(manifest).ok
    assert read_manifest(manifest)["index"]["sha256"] == first_manifest["index"]["sha256"]  # 01 reused 02's rows
    assert (demo / "processed" / "pca.png").stat().st_size > 0
    run = demo / "probe" / "lightning_logs" / "version_0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_auroc"] <= 1.0 and math.isfinite(metrics["test_auroc"])
    assert (run / "roc_test.png").stat().st_size > 0
    assert not list(tmp_path.glob("lightning_logs"))  # nothing written outside the demo folder
    for notebook in (extract_nb, probe_nb):  # frames/PCA and ROC/scores are shown inline
        assert {"image/png", "text/html"} <= output_types(notebook)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_saved_with_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), "execute and save the notebook"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom once"
    assert "error" not in output_types(notebook)
    assert "image/png" in output_types(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
