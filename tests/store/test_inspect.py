"""Inspecting an output folder (``python -m lit_extract inspect manifest.json [--plot x.png]``).

Each test writes a small, complete output folder itself (npy files through ``open_memmap`` and a
manifest following ``lit_extract.store.manifest``'s layout) and compares with hand-computed numbers, or
with scikit-learn (the PCA plot's points, read from the figure it saved).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.format import open_memmap

from conftest import saved_figures
from lit_extract.commands.cli import main
from lit_extract.store.manifest import (
    inspect_manifest, manifest_path, pca_2d, plot_embeddings, split_file_names, write_json_atomic,
)

ENCODER = "tiny"
# train: 4 rows x 2 dims, values 1..8 -> min 1, max 8, mean 4.5, std sqrt(5.25)
TRAIN = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=np.float16)
# val: 2 rows -> min -1, max 3, mean 1, std sqrt(2.5)
VAL = np.array([[-1, 0], [2, 3]], dtype=np.float16)


def write_output(folder: Path, splits: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write ``{split: {embeddings, labels, status, done}}`` as a finished run; return the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for split, arrays in splits.items():
        names = split_file_names(ENCODER, split)
        for key, dtype in (("embeddings", np.float16), ("labels", np.int8), ("status", np.uint8), ("done", np.uint8)):
            data = np.asarray(arrays[key], dtype=dtype)
            out = open_memmap(folder / names[key], mode="w+", dtype=dtype, shape=data.shape)
            out[:] = data
            out.flush()
            del out
        labels, counts = np.unique(arrays["labels"], return_counts=True)
        entries[split] = {"rows": len(arrays["labels"]), "files": names,
                          "label_counts": {str(int(y)): int(n) for y, n in zip(labels, counts)}}
    manifest = {"complete": True, "encoder": ENCODER, "weights": None, "frames": 8, "img_size": 32,
                "embedding_dim": next(iter(splits.values()))["embeddings"].shape[1], "dtype": "float16", "splits": entries}
    path = manifest_path(folder, ENCODER)
    write_json_atomic(path, manifest)
    return path


def complete_splits() -> dict[str, dict[str, np.ndarray]]:
    """Train (4 rows, labels 0,0,1,1, statuses ok,ok,repeated,unreadable) and val (2 rows), all done."""
    return {
        "train": {"embeddings": TRAIN, "labels": [0, 0, 1, 1], "status": [0, 0, 1, 2], "done": [1, 1, 1, 1]},
        "val": {"embeddings": VAL, "labels": [1, 0], "status": [0, 0], "done": [1, 1]},
    }


def run_cli(args: list[str]) -> int:
    """Exit status of ``python -m lit_extract inspect ...`` run in-process."""
    try:
        main(["inspect", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_inspect_passes_a_complete_folder(tmp_path):
    report = inspect_manifest(write_output(tmp_path, complete_splits()))
    assert report.ok and report.problems == []
    assert [(s.split, s.rows, s.shape, s.dtype) for s in report.splits] == [
        ("train", 4, (4, 2), "float16"), ("val", 2, (2, 2), "float16"),
    ]


@pytest.mark.parametrize("chunk_rows", [1, 3, 65536])
def test_inspect_statistics_match_hand_computed_values(tmp_path, chunk_rows):
    report = inspect_manifest(write_output(tmp_path, complete_splits()), chunk_rows=chunk_rows)
    train, val = report.splits
    assert train.stats == pytest.approx({"min": 1.0, "max": 8.0, "mean": 4.5, "std": 5.25 ** 0.5, "nonfinite": 0})
    assert val.stats == pytest.approx({"min": -1.0, "max": 3.0, "mean": 1.0, "std": 2.5 ** 0.5, "nonfinite": 0})


def test_inspect_counts_labels_and_statuses(tmp_path):
    train, val = inspect_manifest(write_output(tmp_path, complete_splits())).splits
    assert train.label_counts == {0: 2, 1: 2} and val.label_counts == {0: 1, 1: 1}
    assert train.status_counts == {"ok": 2, "repeated_frames": 1, "unreadable": 1}
    assert val.status_counts == {"ok": 2, "repeated_frames": 0, "unreadable": 0}


def test_inspect_flags_a_row_not_done(tmp_path):
    splits = complete_splits()
    splits["train"]["done"] = [1, 0, 1, 1]
    report = inspect_manifest(write_output(tmp_path, splits))
    assert report.splits[0].not_done.tolist() == [1]
    assert not report.ok and "train: 1 row(s) not done" in report.problems[0]


def test_inspect_flags_an_all_zero_row_marked_done(tmp_path):
    splits = complete_splits()
    splits["val"]["embeddings"] = np.array([[-1, 0], [0, 0]], dtype=np.float16)
    report = inspect_manifest(write_output(tmp_path, splits))
    assert report.splits[1].zero_rows.tolist() == [1]
    assert report.splits[1].not_done.tolist() == []
    assert "val: 1 row(s) marked done but all zeros" in report.problems[0]


def test_inspect_flags_a_nan(tmp_path):
    splits = complete_splits()
    splits["train"]["embeddings"] = TRAIN.copy()
    splits["train"]["embeddings"][2, 1] = np.nan
    report = inspect_manifest(write_output(tmp_path, splits))
    train = report.splits[0]
    assert train.nonfinite_rows.tolist() == [2] and train.stats["nonfinite"] == 1
    assert train.stats["max"] == 8.0  # the NaN is left out of the statistics
    assert "train: 1 row(s) with NaN/Inf" in report.problems[0]


def test_cli_inspect_exits_0_and_prints_the_table(tmp_path, capsys):
    path = write_output(tmp_path, complete_splits())
    assert run_cli([str(path)]) == 0
    printed = capsys.readouterr().out
    assert "OK: every row done, written and finite" in printed
    assert ["train", "4", "4x2", "float16", "1", "8", "4.5", "2.291", "0:2", "1:2", "2", "1", "1", "0", "0", "0"] in [
        line.split() for line in printed.splitlines()
    ]


def test_cli_inspect_exits_1_on_a_missing_row(tmp_path, capsys):
    splits = complete_splits()
    splits["val"]["done"] = [0, 1]
    assert run_cli([str(write_output(tmp_path, splits))]) == 1
    assert "val: 1 row(s) not done" in capsys.readouterr().out


def test_cli_inspect_exits_1_on_a_nan(tmp_path, capsys):
    splits = complete_splits()
    splits["val"]["embeddings"] = np.array([[-1, np.inf], [2, 3]], dtype=np.float16)
    assert run_cli([str(write_output(tmp_path, splits))]) == 1
    assert "val: 1 row(s) with NaN/Inf" in capsys.readouterr().out


def test_cli_inspect_exits_2_when_the_manifest_is_missing(tmp_path, capsys):
    assert run_cli([str(tmp_path / "manifest_nothing.json")]) == 2
    assert "manifest not found" in capsys.readouterr().err


def test_pca_2d_of_points_on_a_line_has_one_component():
    coords, explained = pca_2d(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    assert explained == pytest.approx([1.0, 0.0])
    # centred points (-1,-1), (0,0), (1,1) lie at -sqrt(2), 0, sqrt(2) along (1,1)/sqrt(2), up to sign
    assert np.abs(coords[:, 0]) == pytest.approx([2 ** 0.5, 0.0, 2 ** 0.5])
    assert coords[:, 1] == pytest.approx([0.0, 0.0, 0.0])


def scattered_splits() -> dict[str, dict[str, np.ndarray]]:
    """Train (12 rows) and val (6 rows) of 3-D points spread unequally along each axis, labels alternating, all done."""
    rng = np.random.default_rng(5)
    splits = {}
    for split, rows in (("train", 12), ("val", 6)):
        points = rng.normal(size=(rows, 3)) * [3.0, 1.5, 0.5] + [1.0, -2.0, 0.5]
        splits[split] = {"embeddings": points.astype(np.float16), "labels": np.arange(rows) % 2,
                         "status": np.zeros(rows), "done": np.ones(rows)}
    return splits


def assert_plots_the_pca_of_every_row(figure, splits) -> None:
    """``figure`` scatters scikit-learn's 2-component PCA of all rows (up to each component's sign),
    one series per label, with the explained variance in the axis labels."""
    from sklearn.decomposition import PCA

    x = np.concatenate([np.asarray(s["embeddings"], dtype=np.float64) for s in splits.values()])
    y = np.concatenate([s["labels"] for s in splits.values()])
    pca = PCA(2).fit(x)
    expected = pca.transform(x)
    axes = figure.axes[0]
    plotted = {label: np.asarray(collection.get_offsets()) for label, collection in zip((0, 1), axes.collections)}
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["y=0 (n=9)", "y=1 (n=9)"]
    got = np.concatenate([plotted[0], plotted[1]])
    wanted = np.concatenate([expected[y == 0], expected[y == 1]])
    signs = np.sign((got * wanted).sum(axis=0))  # a principal axis may come out flipped
    np.testing.assert_allclose(got * signs, wanted, atol=1e-9)
    assert axes.get_xlabel() == f"PC1 ({pca.explained_variance_ratio_[0]:.1%} of variance)"
    assert axes.get_ylabel() == f"PC2 ({pca.explained_variance_ratio_[1]:.1%} of variance)"


def test_plot_embeddings_draws_the_pca_of_the_rows(tmp_path):
    splits = scattered_splits()
    with saved_figures() as figures:
        out = plot_embeddings(write_output(tmp_path, splits), tmp_path / "plots/pca.png", sample=100, seed=0)
    assert out == tmp_path / "plots/pca.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_plots_the_pca_of_every_row(figures[out], splits)
    assert figures[out].axes[0].get_title() == f"{ENCODER}: PCA of 18 embeddings of the train, val splits (seed 0)"


def test_cli_inspect_plot_draws_the_pca_of_the_rows(tmp_path):
    splits = scattered_splits()
    path = write_output(tmp_path, splits)
    with saved_figures() as figures:
        assert run_cli([str(path), "--plot", str(tmp_path / "pca.png")]) == 0
    assert (tmp_path / "pca.png").read_bytes()[:4] == b"\x89PNG"
    assert_plots_the_pca_of_every_row(figures[tmp_path / "pca.png"], splits)


def test_cli_inspect_prints_the_lost_frame_ranges_of_damaged_videos(tmp_path, capsys):
    path = write_output(tmp_path, complete_splits())
    manifest = json.loads(path.read_text())
    manifest["splits"]["train"]["lost_frames"] = {"/videos/a.mp4": [[147, 147], [160, 191]], "/videos/b.mp4": [[3, 4]]}
    write_json_atomic(path, manifest)
    assert run_cli([str(path)]) == 0  # lost frames are reported, not a problem (their clips have status 1)
    out = capsys.readouterr().out.splitlines()
    assert "  train /videos/a.mp4: frames 147, 160-191" in out
    assert "  train /videos/b.mp4: frames 3-4" in out


def test_cli_inspect_ok_line_counts_the_rows_of_status_1_and_2(tmp_path, capsys):
    # complete_splits: train statuses ok, ok, repeated, unreadable; val ok, ok. Five rows of
    # unreadable zeros more in a test split: 1 row of status 1 and 6 of status 2 in all.
    splits = complete_splits()
    splits["test"] = {"embeddings": np.zeros((5, 2)), "labels": [1] * 5, "status": [2] * 5, "done": [1] * 5}
    splits["test"]["embeddings"][:, 0] = 0.5  # the embedding of a clip of zeros (not zero itself)
    assert run_cli([str(write_output(tmp_path, splits))]) == 0
    ok = [line for line in capsys.readouterr().out.splitlines() if line.startswith("OK:")]
    assert ok == ["OK: every row done, written and finite; status 1 (frames lost, repeated): 1 row, "
                  "status 2 (unreadable video, clip of zeros): 6 rows (docs/outputs.md#status)"]


def test_cli_inspect_ok_line_says_zero_rows_of_status_1_and_2_when_every_frame_decoded(tmp_path, capsys):
    splits = complete_splits()
    splits["train"]["status"] = [0, 0, 0, 0]
    assert run_cli([str(write_output(tmp_path, splits))]) == 0
    assert ("OK: every row done, written and finite; status 1 (frames lost, repeated): 0 rows, "
            "status 2 (unreadable video, clip of zeros): 0 rows") in capsys.readouterr().out.splitlines()
