"""The three benchmarks end to end: ``index --dataset`` on small trees with the downloads' real file
names and real list/annotation lines, then ``export`` of a run over that index.

The ground truth files are checked against line-by-line ports of the methods' own scripts, run on
the exported files the way those scripts read theirs: RTFM's ``list/make_gt_sh.py`` (ShanghaiTech)
and VadCLIP's ``list/make_gt_xd.py`` (XD-Violence). The real names and lines are from
github.com/tianyu0207/RTFM ``list/SH_Train.txt``, ``list/SH_Test.txt``; github.com/nwpu-zxr/VadCLIP
``list/annotations.txt``; github.com/henrryzh1/UR-DMU ``list/XD_Train.list``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.indexing.index import file_sha256, load_index, split_rows
from lit_extract.store.manifest import split_file_names, write_json_atomic
from lit_extract.indexing.frame_truth import read_xd_annotations, xd_frame_labels

SNIPPET = 16
XD_TRAIN = {  # name -> frames
    "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": 40,
    "Bad.Boys.II.2003__#00-30-16_00-36-53_label_B2-B6-G": 48,
    "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": 36,
}
XD_TEST = {
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": 260,
    "v=U6MC8JJJZSY__#1_label_G-0-0": 170,
    "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A": 40,
}
XD_ANNOTATIONS = (  # real lines; the first names a video not in this test split, the third carries .mp4
    "v=S-7rRLrxnVQ__#1_label_B4-0-0 0 1517 1970 3038\n"
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6 157 180 185 244 250 360 582 810\n"
    "v=U6MC8JJJZSY__#1_label_G-0-0.mp4 150 779\n"
)


def frames_of(n: int, seed: int = 0) -> list[np.ndarray]:
    return [barcode_frame(k, 32, 24, "Fighting", seed) for k in range(n)]


def run_over(index: Path, folder: Path, encoder: str, crops: int, dim: int = 4) -> Path:
    """A finished extraction of ``index`` (random embeddings, the extractor's files and manifest)."""
    folder.mkdir(parents=True)
    table = load_index(index, check_files=False)
    rng = np.random.default_rng(0)
    splits = {}
    for split in dict.fromkeys(table["split"]):
        rows = split_rows(table, split)
        files = split_file_names(encoder, split)
        np.save(folder / files["embeddings"], rng.normal(size=(len(rows), crops, dim)).astype(np.float16))
        np.save(folder / files["labels"], rows["y"].to_numpy(np.int8))
        np.save(folder / files["status"], np.zeros(len(rows), np.uint8))
        np.save(folder / files["done"], np.ones(len(rows), np.uint8))
        splits[split] = {"rows": len(rows), "files": files}
    manifest = folder / f"manifest_{encoder}.json"
    write_json_atomic(manifest, {"complete": True, "encoder": encoder, "embedding_dim": dim, "crops": crops,
                                 "dtype": "float16", "index": {"path": str(index), "sha256": file_sha256(index)},
                                 "splits": splits})
    return manifest


# ---------------------------------------------------------------- XD-Violence


@pytest.fixture(scope="module")
def xd(tmp_path_factory):
    """An XD-Violence tree (train in a part folder, test in a Test folder), indexed without --dataset."""
    root = tmp_path_factory.mktemp("xd")
    for names, folder in ((XD_TRAIN, "1-1004"), (XD_TEST, "Test")):
        for i, (name, n) in enumerate(names.items()):
            write_video(root / "XD-Violence" / folder / f"{name}.mp4", frames_of(n, i))
    (root / "annotations.txt").write_text(XD_ANNOTATIONS)
    return root


def test_xd_violence_is_detected_and_labelled_from_the_file_names(xd, tmp_path, capsys):
    main(["index", "--root", str(xd / "XD-Violence"), "--out", str(tmp_path / "index.csv"), "--clip-len", "16",
          "--stride", "16", "--val-fraction", "0", "--no-progress"])
    assert "dataset: xd-violence (detected" in capsys.readouterr().out
    videos = load_index(tmp_path / "index.csv").drop_duplicates("path")
    got = {Path(p).stem: (s, y, c) for p, s, y, c in zip(videos["path"], videos["split"], videos["y"], videos["category"])}
    assert got == {
        "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": ("train", 1, "B2"),
        "Bad.Boys.II.2003__#00-30-16_00-36-53_label_B2-B6-G": ("train", 1, "B2-B6-G"),
        "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": ("train", 0, "A"),
        "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": ("test", 1, "G-B2-B6"),
        "v=U6MC8JJJZSY__#1_label_G-0-0": ("test", 1, "G"),
        "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A": ("test", 0, "A"),
    }


def test_xd_annotation_ranges_are_0_based_and_end_exclusive_as_in_the_authors_code(tmp_path):
    (tmp_path / "annotations.txt").write_text(XD_ANNOTATIONS)
    ranges = read_xd_annotations(tmp_path / "annotations.txt")
    # "157 180 185 244 ...": the authors' gt_vec[157:180] = 1 marks frames 157..179 (0-based)
    labels = xd_frame_labels(300, ranges["Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"])
    assert np.flatnonzero(labels).tolist() == [*range(157, 180), *range(185, 244), *range(250, 300)]
    assert ranges["v=U6MC8JJJZSY__#1_label_G-0-0"] == [(150, 779)]  # the name's .mp4 is dropped


@pytest.fixture(scope="module")
def xd_export(xd, tmp_path_factory):
    """index + a five-crop run + ``export --format per-crop --annotations annotations.txt``."""
    folder = tmp_path_factory.mktemp("xd_export")
    main(["index", "--root", str(xd / "XD-Violence"), "--out", str(folder / "index.csv"), "--dataset", "xd-violence",
          "--clip-len", "16", "--stride", "16", "--val-fraction", "0", "--no-progress"])
    manifest = run_over(folder / "index.csv", folder / "run", "i3d", crops=5)
    main(["export", "--manifest", str(manifest), "--format", "per-crop", "--out", str(folder / "features"),
          "--annotations", str(xd / "annotations.txt")])
    return folder


def vadclip_make_gt_xd(feature_list: Path, annotation_file: Path) -> np.ndarray:
    """VadCLIP's list/make_gt_xd.py, line by line, on its CSV list of per-crop files."""
    clip_len = 16
    gt_lines = list(open(annotation_file))
    gt = []
    lists = pd.read_csv(feature_list)
    for idx in range(lists.shape[0]):
        name = lists.loc[idx]["path"]
        if "__0.npy" not in name:
            continue
        fea = np.load(name)
        lens = (fea.shape[0] + 1) * clip_len
        name = name.split("/")[-1]
        name = name[:-7]
        gt_vec = np.zeros(lens).astype(np.float32)
        if "label_A" not in name:
            for gt_line in gt_lines:
                if name in gt_line:
                    gt_content = gt_line.strip("\n").split()
                    abnormal_fragment = [[int(gt_content[i]), int(gt_content[j])] for i in range(1, len(gt_content), 2)
                                         for j in range(2, len(gt_content), 2) if j == i + 1]
                    if len(abnormal_fragment) != 0:
                        for frag in np.array(abnormal_fragment):
                            gt_vec[frag[0]:frag[1]] = 1.0
                    break
        gt.extend(gt_vec[:-clip_len])
    return np.array(gt)


def test_xd_ground_truth_equals_vadclip_make_gt_xd_on_the_exported_list(xd, xd_export):
    gt = np.load(xd_export / "features" / "gt_xd.npy")
    expected = vadclip_make_gt_xd(xd_export / "features" / "test.csv", xd / "annotations.txt")
    assert gt.dtype == np.float32 and expected.sum() > 0
    np.testing.assert_array_equal(gt, expected)


def test_per_crop_files_and_lists_round_trip_to_the_embeddings(xd_export):
    index = load_index(xd_export / "index.csv", check_files=False)
    features = xd_export / "features"
    for split, name in (("train", "train.list"), ("test", "test.list")):
        rows = split_rows(index, split)
        embeddings = np.load(xd_export / "run" / f"emb_i3d_{split}.npy")
        lines = (features / name).read_text().splitlines()
        assert len(lines) == rows["path"].nunique() * 5
        for start in range(0, len(lines), 5):  # each video's five crop files, together, __0 .. __4
            stem = Path(lines[start]).name[: -len("__0.npy")]
            assert [Path(line).name for line in lines[start : start + 5]] == [f"{stem}__{k}.npy" for k in range(5)]
            mine = rows.index[rows["path"].map(lambda p: Path(p).stem) == stem]
            stacked = np.stack([np.load(line) for line in lines[start : start + 5]], axis=1)  # snippets crops D
            assert stacked.dtype == np.float32 and stacked.shape == (len(mine), 5, 4)
            np.testing.assert_array_equal(stacked, embeddings[mine].astype(np.float32))


def test_per_crop_lists_put_violent_crop_files_first_at_the_split_point_the_loaders_hard_code(xd_export, capsys):
    lines = (xd_export / "features" / "train.list").read_text().splitlines()
    violent = [("_label_A" not in line) for line in lines]
    assert violent == [True] * 10 + [False] * 5  # 2 violent videos x 5 crops, then the normal one
    train_csv = pd.read_csv(xd_export / "features" / "train.csv")
    assert train_csv["path"].tolist() == lines and train_csv["label"].tolist() == ["B2-0-0"] * 5 + ["B2-B6-G"] * 5 + ["A"] * 5
    test_csv = pd.read_csv(xd_export / "features" / "test.csv")
    assert [Path(p).name[-7:] for p in test_csv["path"]] == ["__0.npy"] * 3  # VadCLIP tests crop __0


# ---------------------------------------------------------------- ShanghaiTech

SH_TRAIN = ["01_0014", "01_002", "01_003"]  # real SH_Train.txt lines: a frame folder, two training videos
SH_TEST = ["01_001", "01_0015", "01_0025"]  # real SH_Test.txt lines
SH_FRAMES = {"01_0014": 33, "01_0015": 37, "01_0025": 30, "01_001": 50, "01_002": 32, "01_003": 20}


def sh_mask(name: str) -> np.ndarray:
    mask = np.zeros(SH_FRAMES[name], np.uint8)
    mask[{"01_0014": slice(3, 9), "01_0015": slice(20, None), "01_0025": slice(5, 10)}[name]] = 1
    return mask  # 01_0015 ends anomalous: its padding to 3 x 16 frames repeats that last 1


@pytest.fixture(scope="module")
def shanghaitech(tmp_path_factory):
    root = tmp_path_factory.mktemp("sh") / "shanghaitech"
    for i, (name, n) in enumerate(SH_FRAMES.items()):
        if len(name) == 7:  # 4-digit suffix: a test-set frame folder with its mask
            folder = root / "testing" / "frames" / name
            folder.mkdir(parents=True)
            for k, rgb in enumerate(frames_of(n, i)):
                cv2.imwrite(str(folder / f"{k:03d}.jpg"), rgb[:, :, ::-1])
            (root / "testing" / "test_frame_mask").mkdir(parents=True, exist_ok=True)
            np.save(root / "testing" / "test_frame_mask" / f"{name}.npy", sh_mask(name))
        else:
            write_video(root / "training" / "videos" / f"{name}.avi", frames_of(n, i))
    (root / "list").mkdir()
    (root / "list" / "SH_Train.txt").write_text("\n".join(SH_TRAIN) + "\n")
    (root / "list" / "SH_Test.txt").write_text("\n".join(SH_TEST) + "\n")
    return root


def test_shanghaitech_names_resolve_to_videos_and_frame_folders_labelled_by_their_masks(shanghaitech, tmp_path, capsys):
    main(["index", "--root", str(shanghaitech), "--out", str(tmp_path / "index.csv"), "--clip-len", "16",
          "--stride", "16", "--val-fraction", "0", "--no-progress"])
    assert "dataset: shanghaitech (detected" in capsys.readouterr().out
    index = load_index(tmp_path / "index.csv")
    videos = index.drop_duplicates("path").set_index(index.drop_duplicates("path")["path"].map(lambda p: Path(p).name))
    assert videos.loc["01_0015", ["split", "y", "category", "n_frames"]].tolist() == ["test", 1, "Anomaly", 37]
    assert videos.loc["01_001.avi", ["split", "y", "category", "n_frames"]].tolist() == ["test", 0, "Normal", 50]
    assert videos.loc["01_0014", ["split", "y"]].tolist() == ["train", 1]
    assert sorted(videos.index[videos["split"] == "train"]) == ["01_0014", "01_002.avi", "01_003.avi"]
    clips = index.groupby("path").size().rename(lambda p: Path(p).name)
    assert clips.to_dict() == {name + ("" if len(name) == 7 else ".avi"): -(-n // SNIPPET) for name, n in SH_FRAMES.items()}


def rtfm_make_gt_sh(rgb_list_file: Path, temporal_root: Path, anomalous: int) -> np.ndarray:
    """RTFM's list/make_gt_sh.py, line by line (its hard-coded 43 is the last anomalous list index)."""
    gt = []
    for index, file in enumerate(open(rgb_list_file)):
        features = np.array(np.load(file.strip("\n"), allow_pickle=True), dtype=np.float32)
        num_frame = features.shape[0] * 16
        if index > anomalous - 1:
            gt.extend([0] * num_frame)
        else:
            gt_file = file.split("_i3d.npy")[0] + ".npy"
            gt_file = gt_file.split("/")[-1]
            ground_annotation = list(np.load(temporal_root / gt_file))
            if len(ground_annotation) < num_frame:
                ground_annotation += [ground_annotation[-1]] * (num_frame - len(ground_annotation))
            assert len(ground_annotation) == num_frame, "wrong frame number"
            gt.extend(ground_annotation)
    return np.array(gt, dtype=float)


def test_shanghaitech_ground_truth_equals_rtfm_make_gt_sh_on_the_exported_list(shanghaitech, tmp_path, capsys):
    main(["index", "--root", str(shanghaitech), "--out", str(tmp_path / "index.csv"), "--dataset", "shanghaitech",
          "--clip-len", "16", "--stride", "16", "--val-fraction", "0", "--no-progress"])
    manifest = run_over(tmp_path / "index.csv", tmp_path / "run", "i3d", crops=10)
    masks = shanghaitech / "testing" / "test_frame_mask"
    main(["export", "--manifest", str(manifest), "--out", str(tmp_path / "features"), "--annotations", str(masks)])
    assert "test.list: 3 videos, the first 2 anomalous, then 1 normal" in capsys.readouterr().out
    gt = np.load(tmp_path / "features" / "gt-sh.npy")
    expected = rtfm_make_gt_sh(tmp_path / "features" / "test.list", masks, anomalous=2)
    assert gt.dtype == np.float64 and len(gt) == (3 + 2 + 4) * 16
    np.testing.assert_array_equal(gt, expected)
    assert gt[37:48].tolist() == [1.0] * 11  # 01_0015 (first in the list): its last label, repeated


def test_ucf_crime_layout_flag_and_dataset_flag_still_index_the_same(tmp_path):
    root = tmp_path / "UCF_Crime"
    write_video(root / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4", frames_of(32))
    write_video(root / "Training-Normal-Videos-Part-1" / "Normal_Videos001_x264.mp4", frames_of(32, 1))
    (root / "Anomaly_Train.txt").write_text("Abuse/Abuse001_x264.mp4\n")
    (root / "Anomaly_Test.txt").write_text("Testing_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n")
    tables = []
    for flags in (["--layout", "ucf_crime"], ["--dataset", "ucf-crime"], []):
        out = tmp_path / f"index{len(tables)}.csv"
        main(["index", "--root", str(root), "--out", str(out), "--val-fraction", "0", "--no-progress", *flags])
        tables.append(load_index(out))
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])
    assert tables[0].drop_duplicates("path")[["split", "y", "category"]].values.tolist() == [
        ["train", 1, "Abuse"], ["test", 0, "Normal"]]


def test_violent_test_video_without_annotation_line_is_refused_before_writing(xd, xd_export, tmp_path, capsys):
    (tmp_path / "partial.txt").write_text(XD_ANNOTATIONS.splitlines()[1] + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--manifest", str(xd_export / "run" / "manifest_i3d.json"), "--format", "per-crop",
              "--out", str(tmp_path / "features"), "--annotations", str(tmp_path / "partial.txt")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error: ") and "\n" not in err
    assert "v=U6MC8JJJZSY__#1_label_G-0-0" in err and "partial.txt" in err  # the normal test video needs no line
    assert not (tmp_path / "features").exists()


def test_shanghaitech_without_its_split_lists_names_the_flag(shanghaitech, tmp_path, capsys):
    root = tmp_path / "sh"
    (root / "training" / "videos").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["index", "--root", str(root), "--out", str(tmp_path / "index.csv"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "SH_Train.txt" in err and "--train-list" in err


def test_frame_auroc_of_the_probe_reads_xd_violence_truth(tmp_path):
    from lit_extract.evaluate.metrics import auroc, frame_auroc
    from lit_extract.indexing.frame_truth import read_frame_truth

    (tmp_path / "annotations.txt").write_text("v=U6MC8JJJZSY__#1_label_G-0-0.mp4 4 8\n")
    rows = pd.DataFrame({"path": ["/x/v=U6MC8JJJZSY__#1_label_G-0-0.mp4"] * 2 + ["/x/n_label_A.mp4"],
                         "y": [1, 1, 0], "start_frame": [0, 6, 0], "end_frame": [6, 12, 6], "n_frames": [12, 12, 6]})
    scores = np.array([0.2, 0.9, 0.1])
    # frames 4..7 anomalous (0-based, end exclusive); frame scores: clip max, the uncovered none
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0] + [0] * 6
    frame_scores = [0.2] * 6 + [0.9] * 6 + [0.1] * 6
    assert frame_auroc(scores, rows, read_frame_truth(tmp_path / "annotations.txt")) == auroc(np.array(frame_scores), np.array(labels))
