"""`python -m lit_extract export`: per-video files, lists and gt-ucf.npy for RTFM/MGFN/UR-DMU.

Runs are written by the test in the extractor's format (index CSV, .npy files, manifest) with
random embeddings; every expected value is computed here from those arrays, by hand, or by a
line-by-line port of the UCF-Crime authors' MATLAB.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import clip_rows
from lit_extract.commands.cli import main
from lit_extract.store.export import sultani_segments
from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.store.manifest import split_file_names, write_json_atomic

DIM, SNIPPET = 6, 16
# (split, file stem, category, frames): snippets = frames // 16 (the tail is in no snippet)
VIDEOS = [
    ("train", "Normal_Videos001_x264", "Normal", 50),
    ("train", "Abuse002_x264", "Abuse", 64),
    ("train", "Abuse001_x264", "Abuse", 40),
    ("val", "Normal_Videos000_x264", "Normal", 32),
    ("val", "Arrest001_x264", "Arrest", 48),
    ("test", "Normal_Videos_003_x264", "Normal", 33),
    ("test", "Arson011_x264", "Arson", 48),
]
ANNOTATIONS = (
    "Abuse028_x264.mp4  Abuse  165  240  -1  -1  \n"  # not in this test split
    "Arson011_x264.mp4  Arson  20  30  45  60  \n"
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  \n"
    "Normal_Videos_006_x264.mp4  Normal  -1  -1  -1  -1  \n"  # not in this test split
)


def write_run(folder: Path, crops: int = 10, videos=VIDEOS, edit=None, seed: int = 0) -> Path:
    """Write an extraction's outputs for ``videos`` (16-frame snippets every 16 frames) and return
    the manifest. ``edit(rows)`` may change the index rows (a list of dicts) before they are written."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, stem, category, frames in videos:
        rows += clip_rows(Path(f"/data/{category}/{stem}.mp4"), split, category, frames, SNIPPET, SNIPPET)
    if edit is not None:
        rows = edit(rows)
    index = pd.DataFrame(rows, columns=list(COLUMNS))
    index_path = folder / "index_clips.csv"
    index.to_csv(index_path, index=False)
    rng = np.random.default_rng(seed)
    splits = {}
    for split in dict.fromkeys(index["split"]):
        part = index[index["split"] == split]
        files = split_file_names("enc", split)
        shape = (len(part), DIM) if crops == 1 else (len(part), crops, DIM)
        np.save(folder / files["embeddings"], rng.normal(size=shape).astype(np.float16))
        np.save(folder / files["labels"], part["y"].to_numpy(np.int8))
        np.save(folder / files["status"], np.zeros(len(part), np.uint8))
        np.save(folder / files["done"], np.ones(len(part), np.uint8))
        splits[split] = {"rows": len(part), "files": files}
    manifest = folder / "manifest_enc.json"
    write_json_atomic(manifest, {
        "complete": True, "encoder": "enc", "embedding_dim": DIM, "crops": crops, "dtype": "float16",
        "index": {"path": str(index_path), "sha256": file_sha256(index_path)}, "splits": splits,
    })
    return manifest


def export(manifest: Path, out: Path, *extra: str) -> None:
    main(["export", "--manifest", str(manifest), "--out", str(out), *extra])


def video_rows(split: str, stem: str) -> np.ndarray:
    """Positions, within ``split``, of the snippets of video ``stem`` (VIDEOS order, frames // 16 each)."""
    start = 0
    for video_split, video_stem, _, frames in VIDEOS:
        if video_split != split:
            continue
        if video_stem == stem:
            return np.arange(start, start + frames // SNIPPET)
        start += frames // SNIPPET
    raise KeyError(stem)


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def test_rtfm_file_of_each_video_equals_its_rows_of_the_memmap(run, tmp_path):
    export(run, tmp_path / "features")
    for split, stem, _, frames in VIDEOS:
        written = np.load(tmp_path / "features" / f"{stem}_enc.npy")
        expected = np.load(run.parent / f"emb_enc_{split}.npy")[video_rows(split, stem)].astype(np.float32)
        assert written.dtype == np.float32 and written.shape == (frames // SNIPPET, 10, DIM)
        np.testing.assert_array_equal(written, expected)


def test_one_crop_run_exports_a_crop_axis_of_one(tmp_path):
    manifest = write_run(tmp_path / "run", crops=1)
    export(manifest, tmp_path / "features")
    written = np.load(tmp_path / "features" / "Abuse002_x264_enc.npy")
    expected = np.load(manifest.parent / "emb_enc_train.npy")[video_rows("train", "Abuse002_x264")]
    np.testing.assert_array_equal(written, expected.astype(np.float32)[:, None, :])


def test_lists_hold_every_video_once_anomalous_first_with_val_in_train(run, tmp_path):
    out = tmp_path / "features"
    export(run, out)
    folder = out.resolve()
    assert (out / "train.list").read_text().splitlines() == [
        f"{folder}/{stem}_enc.npy" for stem in
        ("Abuse001_x264", "Abuse002_x264", "Arrest001_x264", "Normal_Videos000_x264", "Normal_Videos001_x264")
    ]
    assert (out / "test.list").read_text().splitlines() == [
        f"{folder}/Arson011_x264_enc.npy", f"{folder}/Normal_Videos_003_x264_enc.npy"
    ]
    assert all(Path(line).is_file() for line in (out / "train.list").read_text().splitlines())


def test_ground_truth_ones_fall_exactly_on_the_1_based_annotated_ranges(run, tmp_path):
    (tmp_path / "ann.txt").write_text(ANNOTATIONS)
    export(run, tmp_path / "features", "--annotations", str(tmp_path / "ann.txt"))
    gt = np.load(tmp_path / "features" / "gt-ucf.npy")
    # test.list order: Arson011 (3 snippets = 48 frames), then Normal_Videos_003 (2 snippets = 32 frames).
    assert gt.shape == (48 + 32,)
    # Arson011 "20 30" and "45 60": 1-based frames 20..30 and 45..48 (the snippets end at frame 48).
    arson = [1.0 if 20 <= frame <= 30 or 45 <= frame <= 60 else 0.0 for frame in range(1, 49)]
    np.testing.assert_array_equal(gt, arson + [0.0] * 32)
    assert np.flatnonzero(gt).tolist() == list(range(19, 30)) + list(range(44, 48))


def test_annotation_lines_of_videos_outside_the_test_split_are_ignored_with_one_note(run, tmp_path, capsys):
    (tmp_path / "ann.txt").write_text(ANNOTATIONS)
    export(run, tmp_path / "features", "--annotations", str(tmp_path / "ann.txt"))
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ["note: 2 annotation line(s) name videos not in the test split; ignored"]


def test_export_without_annotations_says_it_writes_no_ground_truth_and_how_to_get_it(run, tmp_path, capsys):
    export(run, tmp_path / "features")
    notes = [line for line in capsys.readouterr().out.splitlines() if "ground truth" in line]
    assert len(notes) == 1 and notes[0].startswith("note: no frame-level ground truth written (no --annotations)")
    assert "Temporal_Anomaly_Annotation_for_Testing_Videos.txt" in notes[0] and "gt-ucf.npy" in notes[0]
    assert not list((tmp_path / "features").glob("gt*.npy"))


def test_summary_names_the_anomalous_normal_split_point(run, tmp_path, capsys):
    export(run, tmp_path / "features")
    out = capsys.readouterr().out
    assert "train.list: 5 videos, the first 3 anomalous, then 2 normal" in out


def matlab_32_segments(features: np.ndarray) -> np.ndarray:
    """Save_C3DFeatures_32Segments.m, line by line, with MATLAB's 1-based indices."""
    thirty2_shots = [math.floor(v + 0.5) for v in np.linspace(1, len(features), 33)]  # round(), positive values
    segments = []
    for ishots in range(1, len(thirty2_shots)):
        ss = thirty2_shots[ishots - 1]
        ee = thirty2_shots[ishots] - 1
        if ishots == len(thirty2_shots):
            ee = thirty2_shots[ishots]
        if ss == ee:
            temp_vect = features[ss - 1]
        elif ee < ss:
            temp_vect = features[ss - 1]
        else:
            temp_vect = features[ss - 1 : ee].mean(axis=0)
        segments.append(temp_vect / np.linalg.norm(temp_vect))
    return np.array(segments)


@pytest.mark.parametrize("snippets", [1, 5, 32, 33, 100, 517])
def test_segments32_match_the_ucf_crime_authors_matlab(snippets):
    features = np.random.default_rng(snippets).normal(size=(snippets, DIM))
    np.testing.assert_allclose(sultani_segments(features), matlab_32_segments(features), rtol=1e-6)


def test_segments32_of_two_snippets_by_hand():
    # round(linspace(1, 2, 33)) = 1 x16, then 2 x17 (1.5 rounds up): segments 1-16 are snippet 1, 17-32 snippet 2.
    features = np.array([[3.0, 4.0], [0.0, 2.0]])
    expected = np.array([[0.6, 0.8]] * 16 + [[0.0, 1.0]] * 16)
    np.testing.assert_allclose(sultani_segments(features), expected)


def test_segments32_export_writes_normalized_32_by_d_files(run, tmp_path):
    export(run, tmp_path / "features", "--format", "segments32")
    written = np.load(tmp_path / "features" / "Abuse002_x264_enc.npy")
    crops = np.load(run.parent / "emb_enc_train.npy")[video_rows("train", "Abuse002_x264")].astype(np.float32)
    assert written.dtype == np.float32 and written.shape == (32, DIM)
    np.testing.assert_allclose(written, matlab_32_segments(crops.mean(axis=1).astype(np.float64)), rtol=1e-5, atol=1e-6)


def overlapping(rows):  # one video cut into 16-frame clips every 8 frames
    extra = [dict(r, start_frame=r["start_frame"] + 8, end_frame=r["end_frame"] + 8) for r in rows
             if "Abuse002" in r["path"] and r["end_frame"] + 8 <= r["n_frames"]]
    return rows + extra


def gap(rows):  # the second snippet of Abuse002 is missing
    return [r for r in rows if not ("Abuse002" in r["path"] and r["start_frame"] == 16)]


def last_missing(rows):  # Abuse002's last snippet (frames 48-64) is missing
    return [r for r in rows if not ("Abuse002" in r["path"] and r["start_frame"] == 48)]


@pytest.mark.parametrize("edit,message", [
    (overlapping, "Abuse002_x264.mp4 has overlapping clips"),
    (gap, "Abuse002_x264.mp4 is incomplete"),
    (last_missing, "Abuse002_x264.mp4 is incomplete"),
])
def test_index_without_back_to_back_snippets_is_refused_before_writing(tmp_path, capsys, edit, message):
    manifest = write_run(tmp_path / "run", edit=edit)
    with pytest.raises(SystemExit) as exit_info:
        export(manifest, tmp_path / "features")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error: ") and "\n" not in err
    assert message in err and "--clip-len 16 --stride 16" in err
    assert not (tmp_path / "features").exists()


def test_rows_not_done_are_refused_before_writing(run, tmp_path, capsys):
    done = np.load(run.parent / "done_enc_val.npy")
    done[2] = 0
    np.save(run.parent / "done_enc_val.npy", done)
    with pytest.raises(SystemExit) as exit_info:
        export(run, tmp_path / "features")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith("error: ") and "val has 1 row(s) not done" in err
    assert not (tmp_path / "features").exists()


def test_test_video_without_annotation_line_is_refused_and_a_previous_export_keeps_its_lists(run, tmp_path, capsys):
    out = tmp_path / "features"
    export(run, out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    (tmp_path / "ann.txt").write_text("Arson011_x264.mp4  Arson  20  30  45  60  \n")
    with pytest.raises(SystemExit) as exit_info:
        export(run, out, "--annotations", str(tmp_path / "ann.txt"))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith("error: ") and "Normal_Videos_003_x264" in err and "ann.txt" in err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # nothing touched, no gt-ucf.npy


def test_per_crop_test_csv_holds_the_crop_vadclip_evaluates_on_ucf_crime(run, tmp_path, capsys):
    export(run, tmp_path / "features", "--format", "per-crop", "--dataset", "ucf-crime")
    folder = (tmp_path / "features").resolve()
    test_csv = pd.read_csv(tmp_path / "features" / "test.csv")
    assert test_csv.values.tolist() == [[f"{folder}/Arson011_x264__5.npy", "Arson"],
                                        [f"{folder}/Normal_Videos_003_x264__5.npy", "Normal"]]
    assert "train.list: 50 crop files of 5 videos, the first 30 (3 anomalous videos x 10 crops) anomalous" in capsys.readouterr().out


def test_per_crop_summary_names_both_of_vadclips_csv_lists(run, tmp_path, capsys):
    export(run, tmp_path / "features", "--format", "per-crop", "--dataset", "ucf-crime")
    out = capsys.readouterr().out.splitlines()
    folder = tmp_path / "features"
    assert (f"{folder / 'train.csv'}: VadCLIP's train list, 50 crop files of 5 videos (path,label), "
            "3 anomalous videos first") in out
    assert f"{folder / 'test.csv'}: VadCLIP's test list, crop __5 of each of 2 videos" in out
    assert len(pd.read_csv(folder / "train.csv")) == 50


@pytest.mark.parametrize("crop_order,crop5", [
    ("torchvision", "top-left corner of the mirrored frame"),
    ("i3d_extractor", "top-left corner of the mirrored frame"),
])
def test_ucf_test_csv_in_another_crop_order_than_vadclips_is_a_warning_saying_what_crop_5_is(
        tmp_path, capsys, crop_order, crop5):
    manifest = write_run(tmp_path / "run")
    record = json.loads(manifest.read_text())
    write_json_atomic(manifest, dict(record, crop_order=crop_order))
    export(manifest, tmp_path / "features", "--format", "per-crop", "--dataset", "ucf-crime")
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: test.csv")]
    assert warnings == [f"warning: test.csv names crop __5 of each video, the crop VadCLIP's UCF-Crime test "
                        f"evaluates: in VadCLIP's files (centre_first order) the centre of the mirrored frame, in this run's "
                        f"{crop_order} order the {crop5}; for VadCLIP extract with --data.crop_order centre_first "
                        f"(configs/clip_vitb16.yaml)"]


def test_ucf_test_csv_in_vadclips_crop_order_is_no_warning(tmp_path, capsys):
    manifest = write_run(tmp_path / "run")
    write_json_atomic(manifest, dict(json.loads(manifest.read_text()), crop_order="centre_first"))
    export(manifest, tmp_path / "features", "--format", "per-crop", "--dataset", "ucf-crime")
    assert not [line for line in capsys.readouterr().out.splitlines() if "VadCLIP's files" in line]


def test_names_vadclip_refuses_a_crop_order_vadclip_was_not_made_with(tmp_path, capsys):
    manifest = write_run(tmp_path / "run")  # ten crops, no crop_order recorded: torchvision's (auto)
    with pytest.raises(SystemExit) as exit_info:
        export(manifest, tmp_path / "VadCLIP", "--names", "vadclip", "--dataset", "ucf-crime")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith("error: ucf_CLIP_rgbtest.csv names crop __5 of each video") and "torchvision order" in err
    assert not (tmp_path / "VadCLIP").exists()
