"""``probe --model.objective mil`` and ``compare --model.objective mil`` on tiny synthetic runs.

Each run is written in the extractor's format (index CSV of back-to-back 16-frame snippets, .npy
embeddings, complete manifest): videos of 12-30 snippets; in an anomalous video a segment of 3-6
snippets is shifted along one direction. Expected values are computed here from the files alone:
numpy standardization and the checkpoint's weights for the scores, scikit-learn for the metrics,
frame labels from the annotation ranges as the dataset authors define them.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from conftest import saved_figures
from lit_extract.commands.cli import main
from lit_extract.errors import LitExtractError
from lit_extract.evaluate.compare import format_table
from lit_extract.evaluate.probe import EmbeddingDataModule, LinearProbe
from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.store.manifest import split_file_names, write_json_atomic

SNIPPET = 16
VIDEOS = {"train": 16, "val": 8, "test": 8}
ARGS = ["--model.lr", "0.05", "--data.bags_per_batch", "4", "--trainer.max_epochs", "4", "--seed_everything", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


def synthetic_videos(seed: int) -> dict[str, list[tuple[int, int, tuple[int, int] | None]]]:
    """Per split: (snippets, label, anomalous snippet range) of each video, anomalous ones first."""
    rng = np.random.default_rng(seed)
    videos = {}
    for split, count in VIDEOS.items():
        videos[split] = []
        for number in range(count):
            length = int(rng.integers(12, 31))
            span = int(rng.integers(3, 7))
            start = int(rng.integers(0, length - span))
            videos[split].append((length, int(number < count // 2), (start, start + span) if number < count // 2 else None))
    return videos


def name(split: str, number: int, label: int) -> str:
    return f"{split}_{number:03d}_label_{'B1' if label else 'A'}"  # XD-Violence's naming: A is normal


def write_index(folder: Path, videos: dict) -> Path:
    rows = []
    for split, entries in videos.items():
        for number, (length, label, _) in enumerate(entries):
            for snippet in range(length):
                rows.append({"split": split, "y": label, "category": "Fighting" if label else "Normal",
                             "path": f"videos/{name(split, number, label)}.mp4", "clip_idx": snippet,
                             "start_frame": snippet * SNIPPET, "end_frame": (snippet + 1) * SNIPPET,
                             "clip_len": SNIPPET, "stride": SNIPPET, "fps": 24.0, "n_frames": length * SNIPPET})
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(folder / "index_clips.csv", index=False)
    return folder / "index_clips.csv"


def write_encoder(folder: Path, index: Path, videos: dict, encoder: str, shift: float, seed: int,
                  dim: int = 8, crops: int = 1) -> Path:
    """One encoder's embeddings of ``videos`` (anomalous snippets shifted by ``shift``); its manifest."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    splits = {}
    for split, entries in videos.items():
        parts, labels = [], []
        for length, label, segment in entries:
            x = rng.normal(size=(length, crops, dim)) + 0.3 * rng.normal(size=dim)  # T crops D
            if segment is not None:
                x[segment[0] : segment[1]] += shift * direction
            parts.append(x if crops > 1 else x[:, 0])
            labels.append(np.full(length, label))
        files = split_file_names(encoder, split)
        rows = sum(len(x) for x in parts)
        np.save(folder / files["embeddings"], np.concatenate(parts).astype(np.float16))
        np.save(folder / files["labels"], np.concatenate(labels).astype(np.int8))
        np.save(folder / files["status"], np.zeros(rows, np.uint8))
        np.save(folder / files["done"], np.ones(rows, np.uint8))
        splits[split] = {"rows": rows, "files": files}
    manifest = folder / f"manifest_{encoder}.json"
    write_json_atomic(manifest, {"complete": True, "encoder": encoder, "embedding_dim": dim, "dtype": "float16",
                                 "crops": crops, "index": {"path": str(index), "sha256": file_sha256(index)},
                                 "splits": splits})
    return manifest


def write_truth(path: Path, videos: dict, splits: tuple[str, ...], style: str) -> Path:
    """Frame truth of ``splits``' videos: UCF-Crime's format (1-based inclusive, every video a line) or
    XD-Violence's (0-based, end exclusive, anomalous videos only)."""
    lines = []
    for split in splits:
        for number, (_, label, segment) in enumerate(videos[split]):
            video = name(split, number, label)
            if style == "ucf":
                first, last = (segment[0] * SNIPPET + 1, segment[1] * SNIPPET) if segment else (-1, -1)
                lines.append(f"{video}.mp4  {'Fighting' if label else 'Normal'}  {first}  {last}  -1  -1")
            elif segment:
                lines.append(f"{video} {segment[0] * SNIPPET} {segment[1] * SNIPPET}")
    path.write_text("\n".join(lines) + "\n")
    return path


def truth_frames(videos: dict, split: str = "test") -> np.ndarray:
    """0/1 label of every frame of ``split``'s videos in index order (the annotated snippets' frames)."""
    labels = []
    for length, _, segment in videos[split]:
        frames = np.zeros(length * SNIPPET, dtype=int)
        if segment:
            frames[segment[0] * SNIPPET : segment[1] * SNIPPET] = 1
        labels.append(frames)
    return np.concatenate(labels)


def run_dir(root: Path) -> Path:
    return max((root / "lightning_logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def standardized(manifest: Path, split: str, encoder: str = "synthetic") -> np.ndarray:
    """``split``'s embeddings (crop means) standardized with the train mean/std, by numpy (float64)."""
    def load(part: str) -> np.ndarray:
        x = np.load(manifest.parent / split_file_names(encoder, part)["embeddings"]).astype(np.float64)
        return x.mean(axis=1) if x.ndim == 3 else x
    train = load("train")
    return (load(split) - train.mean(0)) / train.std(0)


def linear_scores(checkpoint: Path, x: np.ndarray) -> np.ndarray:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    weight, bias = state["linear.weight"].double().numpy(), state["linear.bias"].double().numpy()
    return 1 / (1 + np.exp(-(x @ weight.T + bias)[..., 0]))


@pytest.fixture(scope="module")
def mil_run(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    """One ``probe --model.objective mil`` run with UCF-style truth of the test videos: (manifest,
    run dir, videos, figures saved by path)."""
    folder = tmp_path_factory.mktemp("mil")
    videos = synthetic_videos(0)
    manifest = write_encoder(folder, write_index(folder, videos), videos, "synthetic", shift=4.0, seed=0)
    truth = write_truth(folder / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", videos, ("test",), "ucf")
    with saved_figures() as figures:
        main(["probe", "--data.manifest", str(manifest), "--data.annotations", str(truth), "--model.objective", "mil",
              "--trainer.default_root_dir", str(folder / "runs"), "--plot_videos", "2", *ARGS])
    return manifest, run_dir(folder / "runs"), videos, figures


def test_mil_probe_scores_every_test_row_with_its_head(mil_run):
    manifest, run, _, _ = mil_run
    checkpoint = next((run / "checkpoints").glob("best-*.ckpt"))
    expected = linear_scores(checkpoint, standardized(manifest, "test"))
    np.testing.assert_allclose(np.load(run / "scores_test.npy"), expected, atol=1e-5)


def test_mil_probe_frame_and_video_metrics_match_scikit_learn_on_its_scores(mil_run):
    manifest, run, videos, _ = mil_run
    metrics = json.loads((run / "metrics.json").read_text())
    scores = np.load(run / "scores_test.npy").astype(np.float64)
    frames, gt = np.repeat(scores, SNIPPET), truth_frames(videos)  # snippets tile each video exactly
    precision, recall, _ = precision_recall_curve(gt, frames)
    assert metrics["test_frame_auroc"] == pytest.approx(roc_auc_score(gt, frames), abs=1e-9)
    assert metrics["test_frame_ap"] == pytest.approx(auc(recall, precision), abs=1e-9)
    assert metrics["test_frame_ap_sklearn"] == pytest.approx(average_precision_score(gt, frames), abs=1e-9)
    starts = np.cumsum([0] + [length for length, _, _ in videos["test"]])
    video_scores = [scores[a:b].max() for a, b in zip(starts[:-1], starts[1:])]
    assert metrics["test_video_auroc"] == pytest.approx(roc_auc_score([y for _, y, _ in videos["test"]], video_scores))


def test_mil_probe_watches_val_video_auroc_when_the_truth_has_no_val_videos(mil_run):
    _, run, _, _ = mil_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val_video_auroc" in metrics and "val_auroc" not in metrics
    assert json.loads(json.dumps(metrics))["test_frame_auroc"] > 0.9  # the shifted snippets are found


def test_scores_over_time_plot_draws_frame_scores_and_shades_the_annotated_frames(mil_run):
    _, run, videos, figures = mil_run
    figure = figures[run / "scores_over_time_test.png"]
    scores = np.load(run / "scores_test.npy")
    assert len(figure.axes) == 2  # --plot_videos 2: the first two anomalous test videos
    for number, axes in enumerate(figure.axes):
        length, label, (first, last) = videos["test"][number]
        assert axes.get_title() == name("test", number, label)
        first_row = sum(entry[0] for entry in videos["test"][:number])  # the video's rows follow the earlier videos'
        np.testing.assert_allclose(axes.lines[0].get_ydata(), np.repeat(scores[first_row : first_row + length], SNIPPET))
        spans = [patch.get_x() for patch in axes.patches], [patch.get_width() for patch in axes.patches]
        assert spans == ([first * SNIPPET], [(last - first) * SNIPPET])


def test_pr_figure_draws_the_frame_level_curve_whose_area_is_the_frame_ap(mil_run):
    _, run, videos, figures = mil_run
    figure = figures[run / "pr_test.png"]
    frames, gt = np.repeat(np.load(run / "scores_test.npy").astype(np.float64), SNIPPET), truth_frames(videos)
    precision, recall, _ = precision_recall_curve(gt, frames)  # scikit-learn: highest recall first, ends at (0, 1)
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), recall[::-1], atol=1e-12)
    np.testing.assert_allclose(line.get_ydata(), precision[::-1], atol=1e-12)
    assert line.get_label() == f"frames, AP {json.loads((run / 'metrics.json').read_text())['test_frame_ap']:.3f}"
    assert figure.get_suptitle() == "synthetic: MIL probe precision-recall on the test split"


def data_module(tmp_path: Path, splits_with_truth: tuple[str, ...], style: str) -> EmbeddingDataModule:
    videos = synthetic_videos(1)
    manifest = write_encoder(tmp_path, write_index(tmp_path, videos), videos, "synthetic", shift=4.0, seed=1)
    truth = write_truth(tmp_path / "truth.txt", videos, splits_with_truth, style)
    return EmbeddingDataModule(str(manifest), annotations=str(truth), objective="mil")


@pytest.mark.parametrize(("splits", "style", "expected"), [
    (("test",), "ucf", "video_auroc"),  # no val truth: the video-level metric
    (("val", "test"), "xd", "frame_ap"),  # XD-Violence's official metric
    (("val", "test"), "ucf", "frame_auroc"),  # UCF-Crime's
])
def test_the_default_monitor_is_the_official_metric_where_val_videos_have_frame_truth(tmp_path, splits, style, expected):
    model = LinearProbe(8, objective="mil")
    assert model._monitored(data_module(tmp_path, splits, style)) == expected


def test_a_frame_monitor_without_val_truth_is_refused(tmp_path):
    model = LinearProbe(8, objective="mil", monitor="frame_ap")
    with pytest.raises(LitExtractError, match="no frame truth for the val videos"):
        model._monitored(data_module(tmp_path, ("test",), "xd"))


def test_mil_refuses_the_category_target(tmp_path, capsys):
    videos = synthetic_videos(2)
    manifest = write_encoder(tmp_path, write_index(tmp_path, videos), videos, "synthetic", shift=1.0, seed=2)
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--data.manifest", str(manifest), "--model.objective", "mil", "--data.target", "category",
              "--trainer.default_root_dir", str(tmp_path / "runs")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --model.objective mil learns from the binary video label: use --data.target y")


def test_with_each_crop_a_bag_a_row_scores_the_mean_over_its_crops(tmp_path):
    videos = synthetic_videos(3)
    manifest = write_encoder(tmp_path, write_index(tmp_path, videos), videos, "synthetic", shift=4.0, seed=3, crops=2)
    main(["probe", "--data.manifest", str(manifest), "--model.objective", "mil", "--data.bag_crops", "each",
          "--trainer.default_root_dir", str(tmp_path / "runs"), *ARGS])
    run = run_dir(tmp_path / "runs")
    x = np.load(tmp_path / split_file_names("synthetic", "test")["embeddings"]).astype(np.float64)  # rows 2 D
    train = np.load(tmp_path / split_file_names("synthetic", "train")["embeddings"]).astype(np.float64).mean(1)
    crops = (x - train.mean(0)) / train.std(0)  # each crop, standardized with the crop means' statistics
    checkpoint = next((run / "checkpoints").glob("best-*.ckpt"))
    expected = linear_scores(checkpoint, crops).mean(axis=1)
    np.testing.assert_allclose(np.load(run / "scores_test.npy"), expected, atol=1e-5)


def test_ranking_loss_with_the_mlp_head_on_32_segments_trains_and_tests(tmp_path):
    videos = synthetic_videos(4)
    manifest = write_encoder(tmp_path, write_index(tmp_path, videos), videos, "synthetic", shift=4.0, seed=4)
    truth = write_truth(tmp_path / "annotations.txt", videos, ("test",), "xd")
    main(["probe", "--data.manifest", str(manifest), "--data.annotations", str(truth), "--model.objective", "mil",
          "--model.mil_loss", "ranking", "--model.head", "mlp", "--data.segments", "32",
          "--trainer.default_root_dir", str(tmp_path / "runs"), *ARGS, "--trainer.max_epochs", "2", "--plot_videos", "0"])
    run = run_dir(tmp_path / "runs")
    state = torch.load(next((run / "checkpoints").glob("best-*.ckpt")), map_location="cpu", weights_only=False)["state_dict"]
    assert [tuple(v.shape) for k, v in state.items() if k.endswith("weight")] == [(512, 8), (32, 512), (1, 32)]
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test_frame_ap", "test_frame_auroc", "test_video_auroc"} <= set(metrics)
    assert np.load(run / "scores_test.npy").shape == (sum(length for length, _, _ in videos["test"]),)


@pytest.fixture(scope="module")
def compared_mil(tmp_path_factory) -> tuple[Path, Path, str, dict]:
    """``compare --model.objective mil`` on three encoders of one index with XD-Violence-style truth:
    (extraction folder, --out, what it printed, figures saved by path)."""
    folder = tmp_path_factory.mktemp("compare_mil")
    videos = synthetic_videos(5)
    index = write_index(folder / "processed", videos)
    for seed, (encoder, shift) in enumerate((("weak", 0.5), ("medium", 2.0), ("strong", 5.0))):
        write_encoder(folder / "processed", index, videos, encoder, shift=shift, seed=seed)
    truth = write_truth(folder / "annotations.txt", videos, ("test",), "xd")
    (folder / "probe.yaml").write_text(
        "seed_everything: 0\ntrainer:\n  max_epochs: 5\n  enable_progress_bar: false\n  enable_model_summary: false\n"
        "model:\n  lr: 0.05\ndata:\n  bags_per_batch: 4\n")
    printed = io.StringIO()
    with saved_figures() as figures, redirect_stdout(printed):
        main(["compare", str(folder / "processed"), "--out", str(folder / "out"), "--annotations", str(truth),
              "--probe_config", str(folder / "probe.yaml"), "--model.objective", "mil"])
    return folder / "processed", folder / "out", printed.getvalue(), figures


def test_compare_mil_prints_one_table_sorted_by_xd_violences_frame_ap(compared_mil):
    _, out, printed, _ = compared_mil
    table = pd.read_csv(out / "compare.csv")
    assert list(table.columns)[:3] == ["encoder", "dim", "frame_ap"]
    assert sorted(table["encoder"]) == ["medium", "strong", "weak"]
    assert table["frame_ap"].tolist() == sorted(table["frame_ap"], reverse=True)
    assert printed.splitlines()[: len(table) + 1] == format_table(table).splitlines()


def test_compare_mil_rows_are_each_encoders_mil_probe(compared_mil):
    processed, out, _, figures = compared_mil
    table = pd.read_csv(out / "compare.csv").set_index("encoder")
    for encoder in table.index:
        run = out / encoder / "lightning_logs" / "version_0"
        metrics = json.loads((run / "metrics.json").read_text())
        assert "val_video_auroc" in metrics  # the MIL probe's monitor (the val videos have no truth)
        assert table.loc[encoder, "frame_ap"] == metrics["test_frame_ap"]
        assert table.loc[encoder, "frame_auroc"] == metrics["test_frame_auroc"]
        assert "  objective: mil\n" in (run / "config.yaml").read_text()  # --model.objective (data.objective follows)
    assert figures[out / "roc_test.png"].get_suptitle().startswith("ROC on the test split, one MIL probe per encoder")
    pr = figures[out / "pr_test.png"]
    assert [line.get_label().split(" ")[0] for line in pr.axes[0].lines] == sorted(table.index)  # manifests' order


def test_the_mil_config_sets_the_mil_objective_for_model_and_data(mil_run, capsys):
    manifest = mil_run[0]
    config = Path(__file__).resolve().parents[2] / "configs" / "probe_mil.yaml"
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--config", str(config), "--data.manifest", str(manifest), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "  objective: mil\n" in printed and "  mil_loss: topk\n" in printed


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--data.bags_per_batch", "0", "error: --data.bags_per_batch must be >= 1, got 0"),
    ("--data.segments", "0", "error: --data.segments must be >= 1, got 0"),
    ("--model.pos_weight", "2.0", "error: --model.pos_weight must be > 0 or 'auto', and only with a binary target and "
                                  "--model.objective clip; got 2.0"),
])
def test_bad_mil_settings_are_refused_in_one_line(mil_run, capsys, flag, value, message):
    manifest = mil_run[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--data.manifest", str(manifest), "--model.objective", "mil", flag, value])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == message


def test_mil_on_several_processes_is_refused_before_it_scores_part_of_the_videos(tmp_path):
    # A process of a multi-device run sees some of the videos: their rows' scores would be partial.
    class TwoProcesses:
        world_size = 2
        datamodule = data_module(tmp_path, ("test",), "ucf")

    model = LinearProbe(8, objective="mil")
    model._trainer = TwoProcesses()
    with pytest.raises(LitExtractError, match="scores whole videos in one process: run the probe with --trainer.devices 1"):
        model.setup("fit")
