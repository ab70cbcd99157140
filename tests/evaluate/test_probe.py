"""The linear probe on synthetic embeddings written in the extractor's format (index CSV, .npy, manifest).

Every metric is checked against an independent computation: scikit-learn on the same numbers, or
values worked out by hand and written in the test.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    roc_auc_score,
    roc_curve,
)

from conftest import saved_figures
from lit_extract.commands.cli import main
from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.commands.lightning_cli import ProbeCLI
from lit_extract.store.manifest import split_file_names, write_json_atomic
from lit_extract.evaluate.probe import EmbeddingDataModule, standardization, write_outputs

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "probe.yaml"
CLIPS_PER_VIDEO, CLIP_LEN = 4, 16
BINARY_KEYS = {"val_auroc", "test_auroc", "test_ap", "test_acc", "test_f1", "test_video_auroc"}


def write_run(folder: Path, embeddings: dict[str, np.ndarray], labels: dict[str, np.ndarray],
              categories: dict[str, list[str]] | None = None) -> Path:
    """Write what ``predict`` leaves behind and return the manifest path.

    Each split's rows form videos of ``CLIPS_PER_VIDEO`` back-to-back clips of ``CLIP_LEN`` frames
    (``videos/<split>_<v>.mp4``, which need not exist); categories default to Normal/Anomaly by label.
    """
    folder.mkdir(parents=True, exist_ok=True)
    index_rows, splits = [], {}
    for split, x in embeddings.items():
        y = labels[split]
        names = categories[split] if categories else ["Anomaly" if v else "Normal" for v in y]
        for row in range(len(x)):
            clip = row % CLIPS_PER_VIDEO
            index_rows.append({
                "split": split, "y": int(y[row]), "category": names[row],
                "path": f"videos/{split}_{row // CLIPS_PER_VIDEO:05d}.mp4", "clip_idx": clip,
                "start_frame": clip * CLIP_LEN, "end_frame": (clip + 1) * CLIP_LEN, "clip_len": CLIP_LEN,
                "stride": CLIP_LEN, "fps": 30.0, "n_frames": CLIPS_PER_VIDEO * CLIP_LEN,
            })
        files = split_file_names("synthetic", split)
        np.save(folder / files["embeddings"], x.astype(np.float16))
        np.save(folder / files["labels"], y.astype(np.int8))
        np.save(folder / files["status"], np.zeros(len(x), np.uint8))
        np.save(folder / files["done"], np.ones(len(x), np.uint8))
        splits[split] = {"rows": len(x), "files": files}
    index = folder / "index_clips.csv"
    pd.DataFrame(index_rows, columns=list(COLUMNS)).to_csv(index, index=False)
    manifest = folder / "manifest_synthetic.json"
    write_json_atomic(manifest, {
        "complete": True, "encoder": "synthetic", "embedding_dim": next(iter(embeddings.values())).shape[1],
        "dtype": "float16", "index": {"path": str(index), "sha256": file_sha256(index)}, "splits": splits,
    })
    return manifest


def gaussian_run(folder: Path, shift: float, rows: int = 2000, dim: int = 16, seed: int = 0) -> Path:
    """Labels 0/1 at random; positives' embeddings shifted by ``shift`` along one random unit direction."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    embeddings, labels = {}, {}
    for split in ("train", "val", "test"):
        labels[split] = rng.integers(0, 2, rows)
        embeddings[split] = rng.normal(size=(rows, dim)) + 0.5 + shift * labels[split][:, None] * direction
    return write_run(folder, embeddings, labels)


def probe(manifest: Path, root: Path, *extra: str, command: str = "probe") -> Path:
    """Run ``python -m lit_extract <command>`` with configs/probe.yaml shrunk for tests; return the run dir."""
    main([command, "--config", str(CONFIG), "--data.manifest", str(manifest), "--trainer.default_root_dir", str(root),
          "--data.batch_size", "256", "--model.lr", "0.02", "--trainer.max_epochs", "8",
          "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra])
    return max((root / "lightning_logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def standardized(manifest: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``split``'s embeddings standardized with train mean/std by numpy, and its labels."""
    folder = manifest.parent
    train = np.load(folder / split_file_names("synthetic", "train")["embeddings"]).astype(np.float64)
    x = np.load(folder / split_file_names("synthetic", split)["embeddings"]).astype(np.float64)
    return (x - train.mean(0)) / train.std(0), np.load(folder / split_file_names("synthetic", split)["labels"])


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(manifest, run dir, figures saved by path) of one probe run on overlapping classes with
    UCF-style annotations (``annotations.txt`` next to the run's folder)."""
    folder = tmp_path_factory.mktemp("overlapping")
    manifest = gaussian_run(folder / "run", shift=1.0, rows=3000, dim=32)
    labels = np.load(folder / "run" / "y_test.npy")[::CLIPS_PER_VIDEO]  # every clip of a video shares its label
    lines = [f"test_{v:05d}.mp4  {'Arson' if y else 'Normal'}  " + ("10 40  50 60" if y else "-1 -1  -1 -1")
             for v, y in enumerate(labels)]
    (folder / "annotations.txt").write_text("\n".join(lines) + "\n")
    with saved_figures() as figures:
        run = probe(manifest, folder / "runs", "--data.annotations", str(folder / "annotations.txt"))
    return manifest, run, figures


def test_standardization_uses_train_mean_and_std(tmp_path):
    manifest = gaussian_run(tmp_path, shift=1.0, rows=300)
    data = EmbeddingDataModule(str(manifest))
    data.setup("fit")
    train = np.load(tmp_path / "emb_synthetic_train.npy").astype(np.float64)
    np.testing.assert_allclose(data.mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(data.std, train.std(0), rtol=1e-6)


def test_chunked_standardization_matches_numpy():
    x = np.random.default_rng(4).normal(5.0, 2.0, size=(101, 6)).astype(np.float16)
    x[:, 2] = 3.0  # constant: std 1, so it standardizes to 0
    mean, std = standardization(x, chunk_rows=7)
    expected_std = x.astype(np.float64).std(0)
    expected_std[2] = 1.0
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, expected_std, rtol=1e-6)


def test_val_batches_are_standardized_rows_in_order(tmp_path):
    manifest = gaussian_run(tmp_path, shift=1.0, rows=300)
    data = EmbeddingDataModule(str(manifest), batch_size=64)
    data.setup("fit")
    batches = list(data.val_dataloader())
    expected, labels = standardized(manifest, "val")
    np.testing.assert_allclose(np.concatenate([x.numpy() for x, _ in batches]), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), labels)


def test_separable_embeddings_reach_auroc_near_one(tmp_path):
    run = probe(gaussian_run(tmp_path / "data", shift=8.0), tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["test_auroc"] > 0.99


def test_random_labels_give_auroc_near_half(tmp_path):
    run = probe(gaussian_run(tmp_path / "data", shift=0.0, rows=3000), tmp_path / "runs")
    assert abs(json.loads((run / "metrics.json").read_text())["test_auroc"] - 0.5) < 0.1


def test_probe_auroc_matches_sklearn_logistic_regression(overlapping):
    manifest, run, _ = overlapping
    x_train, y_train = standardized(manifest, "train")
    x_test, y_test = standardized(manifest, "test")
    reference = roc_auc_score(y_test, LogisticRegression(max_iter=1000).fit(x_train, y_train).decision_function(x_test))
    assert abs(json.loads((run / "metrics.json").read_text())["test_auroc"] - reference) < 0.01


def test_metrics_json_matches_sklearn_on_saved_scores(overlapping):
    manifest, run, _ = overlapping
    metrics = json.loads((run / "metrics.json").read_text())
    scores, labels = np.load(run / "scores_test.npy"), np.load(manifest.parent / "y_test.npy")
    assert set(metrics) == BINARY_KEYS | {"test_frame_auroc", "test_frame_ap", "test_frame_ap_sklearn"}
    assert metrics["test_auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    assert metrics["test_ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-6)
    assert metrics["test_acc"] == pytest.approx(accuracy_score(labels, scores > 0.5), abs=1e-6)
    assert metrics["test_f1"] == pytest.approx(f1_score(labels, scores > 0.5), abs=1e-6)
    video = pd.DataFrame({"v": np.arange(len(scores)) // CLIPS_PER_VIDEO, "s": scores, "y": labels}).groupby("v").max()
    assert metrics["test_video_auroc"] == pytest.approx(roc_auc_score(video["y"], video["s"]), abs=1e-6)


def annotated_frames(manifest: Path, run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame labels, frame scores) of the test videos, worked out from the files alone.

    The annotation ranges are 1-based and inclusive (the authors' MATLAB GT(st:end)=1), and each
    video's clips tile it back to back, so frame f's score is the score of the one clip
    [start, end) that holds it.
    """
    annotated = {}
    for line in (manifest.parent.parent / "annotations.txt").read_text().splitlines():
        name, _, *bounds = line.split()
        annotated[name] = [(int(a), int(b)) for a, b in zip(bounds[::2], bounds[1::2]) if a != "-1"]
    index = pd.read_csv(manifest.parent / "index_clips.csv")
    test = index[index["split"] == "test"].assign(score=np.load(run / "scores_test.npy").astype(np.float64))
    frame_scores, frame_labels = [], []
    for video, clips in test.groupby("path", sort=False):
        scores = np.full(int(clips["n_frames"].iloc[0]), np.nan)
        for start, end, score in clips[["start_frame", "end_frame", "score"]].itertuples(index=False):
            scores[int(start):int(end)] = score
        labels = np.zeros(len(scores), dtype=int)
        for first, last in annotated[Path(video).name]:
            labels[first - 1 : last] = 1  # 1-based first..last -> 0-based first-1..last-1
        assert not np.isnan(scores).any()
        frame_scores.append(scores)
        frame_labels.append(labels)
    return np.concatenate(frame_labels), np.concatenate(frame_scores)


def test_frame_auroc_matches_sklearn_on_the_annotated_frames(overlapping):
    # Worked out here from the files alone: the annotation ranges are 1-based and inclusive (the
    # authors' MATLAB GT(st:end)=1), and each video's clips tile it back to back, so frame f's score
    # is the score of the one clip [start, end) that holds it.
    manifest, run, _ = overlapping
    expected = roc_auc_score(*annotated_frames(manifest, run))
    assert json.loads((run / "metrics.json").read_text())["test_frame_auroc"] == pytest.approx(expected, abs=1e-6)


def test_probe_command_plots_the_roc_curve_of_its_saved_test_scores(overlapping):
    manifest, run, figures = overlapping
    assert (run / "roc_test.png").read_bytes().startswith(b"\x89PNG")
    fpr, tpr, _ = roc_curve(np.load(manifest.parent / "y_test.npy"), np.load(run / "scores_test.npy"), drop_intermediate=False)
    curve = figures[run / "roc_test.png"].axes[0].lines[0]
    np.testing.assert_allclose(curve.get_xdata(), fpr, atol=1e-9)
    np.testing.assert_allclose(curve.get_ydata(), tpr, atol=1e-9)


def test_probe_roc_figure_is_titled_with_the_encoder_the_split_and_what_is_plotted(overlapping):
    _, run, figures = overlapping
    figure = figures[run / "roc_test.png"]
    assert figure.get_suptitle() == "synthetic: linear probe ROC on the test split"
    assert [axes.get_title() for axes in figure.axes] == ["clip level", "frame level"]


def test_probe_with_annotations_draws_the_frame_level_roc_beside_the_clip_level_one(overlapping):
    manifest, run, figures = overlapping
    labels, scores = annotated_frames(manifest, run)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    curve = figures[run / "roc_test.png"].axes[1].lines[0]
    np.testing.assert_allclose(curve.get_xdata(), fpr, atol=1e-9)
    np.testing.assert_allclose(curve.get_ydata(), tpr, atol=1e-9)
    frame_auroc = json.loads((run / "metrics.json").read_text())["test_frame_auroc"]
    assert curve.get_label() == f"frames, AUROC {frame_auroc:.3f}"


def test_probe_without_annotations_draws_the_clip_level_roc_alone(tmp_path):
    scores, labels = np.array([0.2, 0.9, 0.4, 0.7]), np.array([0, 1, 0, 1])
    with saved_figures() as figures:
        write_outputs(tmp_path / "run", {"test_auroc": 1.0}, scores, labels, encoder="r3d_18")
    figure = figures[tmp_path / "run" / "roc_test.png"]
    assert figure.get_suptitle() == "r3d_18: linear probe ROC on the test split"
    assert [axes.get_title() for axes in figure.axes] == ["clip level"]


def test_probe_command_keeps_the_best_checkpoint_and_its_config(overlapping):
    _, run, _ = overlapping
    assert [p.name for p in (run / "checkpoints").glob("*.ckpt")] and (run / "config.yaml").is_file()


def test_scores_test_rows_align_with_test_rows(tmp_path):
    # Only dimension 0 varies (the others are constant), so the score is monotone in it: sorting the
    # saved scores must sort the test rows exactly as their dimension-0 values do. Batches of 32 make
    # seven test batches, so batches written out of order would show too.
    rng = np.random.default_rng(1)
    embeddings, labels = {}, {}
    for split, rows in (("train", 400), ("val", 200), ("test", 200)):
        x = np.zeros((rows, 4))
        x[:, 0] = rng.permutation(np.linspace(-1, 1, rows))
        embeddings[split], labels[split] = x, (x[:, 0] > 0).astype(int)
    run = probe(write_run(tmp_path / "data", embeddings, labels), tmp_path / "runs", "--data.batch_size", "32")
    scores = np.load(run / "scores_test.npy")
    assert scores.shape == (200,)
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(embeddings["test"][:, 0].astype(np.float16)))


def test_category_target_reports_macro_metrics(tmp_path):
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=2.0, size=(3, 8))
    embeddings, labels, categories = {}, {}, {}
    for split in ("train", "val", "test"):
        classes = rng.integers(0, 3, 900)
        embeddings[split] = centres[classes] + rng.normal(size=(900, 8))
        labels[split] = (classes > 0).astype(int)
        categories[split] = [("Arson", "Fighting", "Normal")[c] for c in classes]
    manifest = write_run(tmp_path / "data", embeddings, labels, categories)
    run = probe(manifest, tmp_path / "runs", "--data.target", "category")
    metrics = json.loads((run / "metrics.json").read_text())
    predicted = np.load(run / "scores_test.npy").argmax(1)
    truth = np.array([("Arson", "Fighting", "Normal").index(c) for c in categories["test"]])
    assert set(metrics) == {"val_macro_acc", "test_macro_acc", "test_macro_f1"}
    assert metrics["test_macro_acc"] == pytest.approx(balanced_accuracy_score(truth, predicted), abs=1e-6)
    assert metrics["test_macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-6)


def test_fit_then_test_subcommands_write_metrics(tmp_path):
    manifest = gaussian_run(tmp_path / "data", shift=3.0)
    fitted = probe(manifest, tmp_path / "runs", command="fit")
    checkpoint = next((fitted / "checkpoints").glob("best-*.ckpt"))
    tested = probe(manifest, tmp_path / "runs", "--ckpt_path", str(checkpoint), command="test")
    assert set(json.loads((tested / "metrics.json").read_text())) == BINARY_KEYS


def test_pos_weight_auto_is_negatives_over_positives(tmp_path):
    labels = {split: (np.arange(400) % 4 == 0).astype(int) for split in ("train", "val", "test")}
    embeddings = {split: np.random.default_rng(3).normal(size=(400, 4)) for split in labels}
    manifest = write_run(tmp_path / "data", embeddings, labels)
    cli = ProbeCLI(["--data.manifest", str(manifest), "--model.pos_weight", "auto",
                    "--trainer.max_epochs", "1", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
                    "--trainer.default_root_dir", str(tmp_path / "runs")], run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert float(cli.model.pos_weight_value) == pytest.approx(np.sum(labels["train"] == 0) / np.sum(labels["train"]))


def test_bad_manifest_path_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--config", str(CONFIG), "--data.manifest", str(tmp_path / "missing.json")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error: ") and "missing.json" in err and "\n" not in err


def test_probe_outputs_are_readable_by_others_under_umask_022(tmp_path):
    scores, labels = np.array([0.2, 0.9, 0.4]), np.array([0, 1, 0])
    previous = os.umask(0o022)
    try:
        paths = write_outputs(tmp_path / "run", {"test_auroc": 1.0}, scores, labels)
    finally:
        os.umask(previous)
    assert {path.name for path in paths} == {"metrics.json", "scores_test.npy", "roc_test.png"}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths} == {path.name: 0o644 for path in paths}
