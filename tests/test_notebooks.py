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
import numpy as np
import pytest
from nbclient import NotebookClient
from sklearn.metrics import roc_auc_score

from lit_extract.store.manifest import inspect_manifest, manifest_path, read_manifest

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


def shown_metrics(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """The metrics table 02_probe displays (the cell that reads ``metrics.json``), as name -> value."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and "metrics.json" in c.source)
    table = next(o for o in cell.outputs if o["output_type"] == "execute_result")["data"]["text/plain"]
    return {name: float(value) for name, value in (line.split() for line in table.splitlines()[1:])}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Both notebooks run on a fresh demo folder: ``(workdir, demo folder, probe notebook,
    extract notebook, the manifest as the probe notebook left it)``."""
    tmp_path = tmp_path_factory.mktemp("notebooks")
    demo = tmp_path / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIT_EXTRACT_DEMO_DIR", str(demo))  # inherited by the kernel process
        probe_nb = execute("02_probe.ipynb", tmp_path)
        first_manifest = read_manifest(manifest_path(demo / "processed", "r3d_18"))
        extract_nb = execute("01_extract.ipynb", tmp_path)
    return tmp_path, demo, probe_nb, extract_nb, first_manifest


@pytest.mark.timeout(400)  # the first test to use ``executed`` runs the notebooks (about a minute)
def test_notebooks_run_on_the_demo_data(executed):
    tmp_path, demo, probe_nb, extract_nb, first_manifest = executed
    manifest = manifest_path(demo / "processed", "r3d_18")
    assert read_manifest(manifest)["complete"]
    assert inspect_manifest(manifest).ok
    assert read_manifest(manifest)["index"]["sha256"] == first_manifest["index"]["sha256"]  # 01 reused 02's rows
    assert (demo / "processed" / "pca.png").stat().st_size > 0
    run = demo / "probe" / "lightning_logs" / "version_0"
    assert math.isfinite(json.loads((run / "metrics.json").read_text())["test_auroc"])
    assert (run / "roc_test.png").stat().st_size > 0
    assert not list(tmp_path.glob("lightning_logs"))  # nothing written outside the demo folder
    for notebook in (extract_nb, probe_nb):  # frames/PCA and ROC/scores are shown inline
        assert {"image/png", "text/html"} <= output_types(notebook)


@pytest.mark.timeout(400)
def test_probe_notebook_shows_the_auroc_of_its_saved_test_scores(executed):
    # scikit-learn on the probe's saved scores and the labels the extractor wrote for the test rows.
    _, demo, probe_nb, _, _ = executed
    run = demo / "probe" / "lightning_logs" / "version_0"
    expected = roc_auc_score(np.load(demo / "processed" / "y_test.npy"), np.load(run / "scores_test.npy"))
    assert shown_metrics(probe_nb)["test_auroc"] == pytest.approx(expected, abs=1e-6)
    assert json.loads((run / "metrics.json").read_text())["test_auroc"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_saved_with_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), "execute and save the notebook"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom once"
    assert "error" not in output_types(notebook)
    assert "image/png" in output_types(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
