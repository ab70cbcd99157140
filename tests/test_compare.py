"""`python -m lit_extract compare`: one probe per encoder of a folder, the numbers `probe` gives alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import clip_rows, write_index
from lit_extract.cli import main
from lit_extract.compare import EncoderResult, find_manifests, results_frame
from lit_extract.demo import barcode_frame, write_video
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


def test_compare_gives_one_row_per_encoder_with_the_metrics_of_probe_alone(extracted, tmp_path, capsys):
    root = extracted.parent
    config, annotations = root / "probe.yaml", root / "annotations.txt"
    out = tmp_path / "compare"
    main(["compare", str(extracted), "--out", str(out), "--annotations", str(annotations), "--probe_config", str(config)])
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "compare.csv").set_index("encoder")
    assert sorted(table.index) == sorted(ENCODERS)
    assert list(table.columns) == ["dim", "clip_auroc", "ap", "video_auroc", "frame_auroc", "probe_s"]
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
                            ("frame_auroc", "test_frame_auroc")):
            assert row[column] == alone[key], (name, column)
        assert name in printed
    markdown = (out / "compare.md").read_text().splitlines()
    assert markdown[0].startswith("| encoder | dim | clip_auroc") and len(markdown) == 2 + len(ENCODERS)
    assert (out / "roc_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def result(encoder: str, auroc: float) -> EncoderResult:
    metrics = {"test_auroc": auroc, "test_ap": 0.5, "test_video_auroc": 1.0}
    return EncoderResult(encoder, 8, metrics, np.zeros(2), np.array([0, 1]), 1.25, Path("."))


def test_table_puts_the_best_clip_auroc_first_and_undefined_last():
    table = results_frame([result("a", 0.6), result("b", math.nan), result("c", 0.9)], frame_level=False)
    assert table["encoder"].tolist() == ["c", "a", "b"]
    assert "frame_auroc" not in table.columns


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
