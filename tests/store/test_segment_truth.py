"""VadCLIP's ``gt_segment.npy`` and ``gt_label.npy`` (its detection mAP truth) from ``export``.

Expected values: VadCLIP's ``list/make_gt_mAP_xd.py`` and ``list/make_gt_mAP_ucf.py``
(github.com/nwpu-zxr/VadCLIP at f643c91), written out below line for line and run on the
exported files the way those scripts read theirs (the test CSV's ``__0`` rows, the annotation
lines matched by name, normal videos sized from their feature file). Their ``np.save`` of these
ragged lists stores 1-D object arrays of lists; the export's files must hold the same lists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lit_extract.commands.cli import main
from vad_runs import UCF, UCF_ANNOTATIONS, XD, XD_ANNOTATIONS, XD_CLASS_ANNOTATIONS, write_run


def make_gt_map_xd(lists: pd.DataFrame, gt_lines: list[str]) -> tuple[list, list]:
    """VadCLIP's make_gt_mAP_xd.py on the test CSV ``lists`` and the lines of annotations_multiclasses.txt."""
    clip_len = 16
    gt_segment, gt_label = [], []
    for idx in range(lists.shape[0]):
        name = lists.loc[idx]["path"]
        if "__0.npy" not in name:
            continue
        segment, label = [], []
        if "_label_A" in name:
            fea = np.load(name)
            lens = fea.shape[0] * clip_len
            segment.append([0, lens])
            label.append("A")
        else:
            name = name.split("/")[-1][:-7]
            for gt_line in gt_lines:
                if name in gt_line:
                    gt_content = gt_line.strip("\n").split()
                    for j in range(1, len(gt_content), 3):
                        segment.append([gt_content[j + 1], gt_content[j + 2]])
                        label.append(gt_content[j])
                    break
        gt_segment.append(segment)
        gt_label.append(label)
    return gt_segment, gt_label


def make_gt_map_ucf(lists: pd.DataFrame, gt_lines: list[str]) -> tuple[list, list]:
    """VadCLIP's make_gt_mAP_ucf.py on a CSV ``lists`` of every test crop file and UCF-Crime's annotation lines."""
    clip_len = 16
    gt_segment, gt_label = [], []
    for idx in range(lists.shape[0]):
        name = lists.loc[idx]["path"]
        label_text = lists.loc[idx]["label"]
        if "__0.npy" not in name:
            continue
        segment, label = [], []
        if "Normal" in label_text:
            fea = np.load(name)
            lens = fea.shape[0] * clip_len
            segment.append([0, lens])
            label.append("A")
        else:
            name = name.split("/")[-1][:-7]
            for gt_line in gt_lines:
                if name in gt_line:
                    gt_content = gt_line.strip("\n").split("  ")
                    segment.append([gt_content[2], gt_content[3]])
                    label.append(gt_content[1])
                    if gt_content[4] != "-1":
                        segment.append([gt_content[4], gt_content[5]])
                        label.append(gt_content[1])
                    break
        gt_segment.append(segment)
        gt_label.append(label)
    return gt_segment, gt_label


def saved_lists(path: Path) -> list:
    array = np.load(path, allow_pickle=True)  # as VadCLIP's test scripts load it
    assert array.dtype == object and array.ndim == 1
    return [list(entry) for entry in array]


@pytest.fixture(scope="module")
def xd(tmp_path_factory):
    root = tmp_path_factory.mktemp("xd")
    (root / "annotations.txt").write_text(XD_ANNOTATIONS)
    (root / "annotations_multiclasses.txt").write_text(XD_CLASS_ANNOTATIONS)
    manifest = write_run(root / "run", XD, crops=5, crop_order="centre_first")
    main(["export", "--manifest", str(manifest), "--out", str(root / "features"), "--format", "per-crop",
          "--annotations", str(root / "annotations.txt"),
          "--class_annotations", str(root / "annotations_multiclasses.txt")])
    return root


def test_xd_gt_segment_and_gt_label_equal_vadclips_make_gt_map_xd(xd):
    lists = pd.read_csv(xd / "features" / "test.csv")
    expected_segment, expected_label = make_gt_map_xd(lists, list(open(xd / "annotations_multiclasses.txt")))
    assert saved_lists(xd / "features" / "gt_segment.npy") == expected_segment
    assert saved_lists(xd / "features" / "gt_label.npy") == expected_label
    assert expected_label[0] == ["B2", "G", "B2", "G", "G", "B6"] and expected_segment[2] == [[0, 32]]  # by hand


def test_ucf_gt_segment_and_gt_label_equal_vadclips_make_gt_map_ucf(tmp_path):
    (tmp_path / "ann.txt").write_text(UCF_ANNOTATIONS)
    manifest = write_run(tmp_path / "run", UCF, crops=10, crop_order="centre_first")
    main(["export", "--manifest", str(manifest), "--out", str(tmp_path / "features"), "--format", "per-crop",
          "--annotations", str(tmp_path / "ann.txt")])
    labels = dict(pd.read_csv(tmp_path / "features" / "test.csv").assign(
        stem=lambda t: t["path"].map(lambda p: Path(p).name.rsplit("__", 1)[0])).set_index("stem")["label"])
    paths = (tmp_path / "features" / "test.list").read_text().splitlines()  # every crop file, __0 included
    lists = pd.DataFrame({"path": paths, "label": [labels[Path(p).name.rsplit("__", 1)[0]] for p in paths]})
    expected_segment, expected_label = make_gt_map_ucf(lists, list(open(tmp_path / "ann.txt")))
    assert saved_lists(tmp_path / "features" / "gt_segment.npy") == expected_segment
    assert saved_lists(tmp_path / "features" / "gt_label.npy") == expected_label
    # by hand: Abuse028 (one range: the second is -1), Arson011 (two), then the normal video (2 snippets x 16)
    assert expected_segment == [[["165", "240"]], [["20", "30"], ["45", "60"]], [[0, 32]]]
    assert expected_label == [["Abuse"], ["Arson", "Arson"], ["A"]]


def test_violent_test_video_without_a_class_line_is_refused_before_writing(xd, tmp_path, capsys):
    (tmp_path / "classes.txt").write_text("v=U6MC8JJJZSY__#1_label_G-0-0.mp4 G 150 779\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--manifest", str(xd / "run" / "manifest_enc.json"), "--out", str(tmp_path / "out"),
              "--format", "per-crop", "--class_annotations", str(tmp_path / "classes.txt")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith("error: 1 anomalous test video(s) have no line in ") and "Bad.Boys.1995__#01-11-55" in err
    assert not (tmp_path / "out").exists()


def test_class_annotations_need_the_per_crop_format(xd, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", "--manifest", str(xd / "run" / "manifest_enc.json"), "--out", str(tmp_path / "out"),
              "--class_annotations", str(xd / "annotations_multiclasses.txt")])
    assert "gt_segment.npy and gt_label.npy are VadCLIP's; use --format per-crop" in capsys.readouterr().err


def test_xd_per_crop_with_frame_truth_but_no_class_truth_says_how_to_get_it(xd, tmp_path, capsys):
    main(["export", "--manifest", str(xd / "run" / "manifest_enc.json"), "--out", str(tmp_path / "out"),
          "--format", "per-crop", "--annotations", str(xd / "annotations.txt")])
    assert ("note: no gt_segment.npy / gt_label.npy (VadCLIP's detection mAP truth): give --class_annotations "
            "annotations_multiclasses.txt (VadCLIP's list/)") in capsys.readouterr().out.splitlines()
    assert not (tmp_path / "out" / "gt_segment.npy").exists()
