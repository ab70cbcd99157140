"""`python -m lit_extract compare`: one probe per encoder of a folder, the numbers `probe` gives alone."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn.metrics import roc_curve

from conftest import clip_rows, saved_figures, write_index
from lit_extract.commands.cli import main
from lit_extract.evaluate.compare import EncoderResult, find_manifests, format_table, results_frame
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.errors import LitExtractError

ENCODERS = ("r3d_18", "mc3_18")
PROBE_YAML = """\
seed_everything: 0
trainer:
  max_epochs: 4
  deterministic: true
  log_every_n_steps: 1
  enable_progress_bar: false
  enable_model_summary: false
"""


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """Both encoders (random init, 16x16) extracted in one pass; every split holds both classes."""
    root = tmp_path_factory.mktemp("compare")
    rows = []
    for i, split in enumerate(["train"] * 6 + ["val"] * 3 + ["test"] * 3):
        category = ("Normal", "Fighting")[i % 2]
        looks = category if i % 3 else ("Fighting", "Normal")[i % 2]  # every third video looks like the other class
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, 80, 60, looks, i) for k in range(64)))
        rows += clip_rows(path, split, category, 64)
    index = write_index(root / "index_clips.csv", rows)
    (root / "annotations.txt").write_text(
        "v9.mp4 Fighting 10 40 -1 -1\nv10.mp4 Normal -1 -1 -1 -1\nv11.mp4 Fighting 0 20 30 50\n")
    (root / "probe.yaml").write_text(PROBE_YAML)
    out = root / "processed"
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.batch_size", "4",
          "--data.num_workers", "0", "--model.encoder", f"[{', '.join(ENCODERS)}]", "--model.weights", "none",
          "--writer.output_dir", str(out), "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    return out


@pytest.fixture(scope="module")
def compared(extracted, tmp_path_factory) -> tuple[Path, str, dict]:
    """``compare`` run once with annotations: (its --out folder, what it printed, the figures it saved by path)."""
    root = extracted.parent
    out = tmp_path_factory.mktemp("compared") / "compare"
    printed = io.StringIO()  # not a terminal, as in a cluster job's log
    with saved_figures() as figures, redirect_stdout(printed):
        main(["compare", str(extracted), "--out", str(out), "--annotations", str(root / "annotations.txt"),
              "--probe_config", str(root / "probe.yaml")])
    return out, printed.getvalue(), figures


def test_compare_gives_one_row_per_encoder_with_the_metrics_of_probe_alone(extracted, compared, tmp_path):
    root = extracted.parent
    config, annotations = root / "probe.yaml", root / "annotations.txt"
    out, printed, _ = compared
    table = pd.read_csv(out / "compare.csv").set_index("encoder")
    assert sorted(table.index) == sorted(ENCODERS)
    # UCF-Crime's truth: its official metric, frame AUROC, comes first
    assert list(table.columns) == ["dim", "frame_auroc", "clip_auroc", "ap", "video_auroc", "frame_ap",
                                   "frame_ap_sklearn", "probe_s"]
    for name in ENCODERS:
        main(["probe", "--config", str(config), "--data.manifest", str(extracted / f"manifest_{name}.json"),
              "--data.annotations", str(annotations), "--trainer.default_root_dir", str(tmp_path / name)])
        alone_dir = tmp_path / name / "lightning_logs" / "version_0"
        alone = json.loads((alone_dir / "metrics.json").read_text())
        compared_dir = out / name / "lightning_logs" / "version_0"
        np.testing.assert_array_equal(np.load(compared_dir / "scores_test.npy"), np.load(alone_dir / "scores_test.npy"))
        row = table.loc[name]
        assert row["dim"] == 512 and row["probe_s"] > 0
        for column, key in (("clip_auroc", "test_auroc"), ("ap", "test_ap"), ("video_auroc", "test_video_auroc"),
                            ("frame_auroc", "test_frame_auroc"), ("frame_ap", "test_frame_ap"),
                            ("frame_ap_sklearn", "test_frame_ap_sklearn")):
            assert row[column] == alone[key], (name, column)
        assert name in printed
    markdown = (out / "compare.md").read_text().splitlines()
    assert markdown[0].startswith("| encoder | dim | frame_auroc") and len(markdown) == 2 + len(ENCODERS)
    assert (out / "roc_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_prints_its_table_and_paths_and_keeps_each_probe_output_in_its_run_folder(compared):
    out, printed, _ = compared
    table = pd.read_csv(out / "compare.csv")
    assert printed.splitlines() == [
        *format_table(table).splitlines(),
        *(f"wrote {out / name}" for name in ("compare.csv", "compare.md", "roc_test.png", "pr_test.png")),
    ]
    for name in ENCODERS:
        log = (out / name / "lightning_logs" / "version_0" / "probe.log").read_text()
        assert "test_frame_auroc" in log and "wrote" in log  # the probe's own results table and paths


def frame_level_by_hand(index: pd.DataFrame, scores: np.ndarray, annotations: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every frame of the test videos: a frame scores the max of the clips
    [start, end) holding it; the annotation ranges are 1-based and inclusive."""
    ranges = {}
    for line in annotations.read_text().splitlines():
        name, _, *bounds = line.split()
        ranges[name] = [(int(a), int(b)) for a, b in zip(bounds[::2], bounds[1::2]) if a != "-1"]
    test = index[index["split"] == "test"].assign(score=scores.astype(np.float64))
    all_labels, all_scores = [], []
    for video, clips in test.groupby("path", sort=False):
        n = int(clips["n_frames"].iloc[0])
        frame = np.full(n, -np.inf)
        for start, end, score in clips[["start_frame", "end_frame", "score"]].itertuples(index=False):
            frame[int(start):int(end)] = np.maximum(frame[int(start):int(end)], score)
        labels = np.zeros(n, dtype=int)
        for first, last in ranges[Path(video).name]:
            labels[max(first, 1) - 1 : min(last, n)] = 1
        assert np.isfinite(frame).all()
        all_labels.append(labels)
        all_scores.append(frame)
    return np.concatenate(all_labels), np.concatenate(all_scores)


def test_compare_roc_figure_names_the_encoders_and_split_and_overlays_clip_and_frame_level_curves(extracted, compared):
    out, _, figures = compared
    figure = figures[out / "roc_test.png"]
    assert figure.get_suptitle() == "ROC on the test split, one linear probe per encoder (mc3_18, r3d_18)"
    clip_axes, frame_axes = figure.axes
    assert (clip_axes.get_title(), frame_axes.get_title()) == ("clip level", "frame level")
    index = pd.read_csv(extracted.parent / "index_clips.csv")
    labels = np.load(extracted / "y_test.npy")
    for position, name in enumerate(sorted(ENCODERS)):
        scores = np.load(out / name / "lightning_logs" / "version_0" / "scores_test.npy")
        metrics = json.loads((out / name / "lightning_logs" / "version_0" / "metrics.json").read_text())
        for axes, (y, s), key in ((clip_axes, (labels, scores), "test_auroc"),
                                  (frame_axes, frame_level_by_hand(index, scores, extracted.parent / "annotations.txt"),
                                   "test_frame_auroc")):
            curve = axes.lines[position]
            fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
            np.testing.assert_allclose(curve.get_xdata(), fpr, atol=1e-9)
            np.testing.assert_allclose(curve.get_ydata(), tpr, atol=1e-9)
            assert curve.get_label() == f"{name} (AUROC {metrics[key]:.3f})"


def test_each_encoder_probe_figure_names_its_encoder(compared):
    out, _, figures = compared
    for name in ENCODERS:
        figure = figures[out / name / "lightning_logs" / "version_0" / "roc_test.png"]
        assert figure.get_suptitle() == f"{name}: linear probe ROC on the test split"


def result(encoder: str, auroc: float) -> EncoderResult:
    metrics = {"test_auroc": auroc, "test_ap": 0.5, "test_video_auroc": 1.0}
    return EncoderResult(encoder, 8, metrics, np.zeros(2), np.array([0, 1]), 1.25, Path("."))


def test_table_puts_the_best_clip_auroc_first_and_undefined_last():
    table = results_frame([result("a", 0.6), result("b", math.nan), result("c", 0.9)], frame_level=False)
    assert table["encoder"].tolist() == ["c", "a", "b"]
    assert "frame_auroc" not in table.columns


def test_table_puts_the_official_metric_first_and_orders_the_rows_by_it():
    # XD-Violence's official metric is frame AP: a (best clip AUROC) is last by frame AP
    metrics = {"a": (0.9, 0.2), "b": (0.6, 0.7), "c": (0.7, 0.5)}
    results = [EncoderResult(name, 8, {"test_auroc": clip, "test_frame_ap": ap}, np.zeros(2), np.array([0, 1]), 1.0,
                             Path(".")) for name, (clip, ap) in metrics.items()]
    table = results_frame(results, frame_level=True, official="frame_ap")
    assert list(table.columns[:3]) == ["encoder", "dim", "frame_ap"]
    assert table["encoder"].tolist() == ["b", "c", "a"]


def test_folder_without_manifests_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}: no manifest_<encoder>.json")


def test_encoders_from_different_indexes_are_refused(tmp_path):
    for name, sha in (("a", "1" * 64), ("b", "2" * 64)):
        (tmp_path / f"manifest_{name}.json").write_text(json.dumps({"complete": True, "index": {"sha256": sha}}))
    with pytest.raises(LitExtractError, match="different indexes"):
        find_manifests(tmp_path)


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_probe(extracted, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(extracted), "--out", str(tmp_path / "a_file/compare")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {tmp_path / 'a_file/compare'}: output folder can't be written ({tmp_path / 'a_file'} "
                   "is not a folder); choose another --out")
