"""Building ``index_clips.csv`` from video folders (``python -m lit_extract index``).

Every tree is made here with tiny real videos (cv2.VideoWriter, mp4v, 32x24) of known frame
counts; expected clip ranges, counts and splits are written out by hand.
"""

from __future__ import annotations

import math
import re
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import damage, mdat_payload, read_barcode
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame
from lit_extract.commands.demo import write_video as write_barcode_video
from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import load_index
from lit_extract.indexing.scan import build_index, clip_ranges, probe_video, skipped_csv_path

FPS = 25.0


def write_video(path: Path, n_frames: int) -> Path:
    """A 32x24 mp4v video of ``n_frames`` frames at 25 fps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (32, 24))
    for k in range(n_frames):
        writer.write(np.full((24, 32, 3), (7 * k) % 256, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def ucf_root(tmp_path: Path) -> Path:
    """UCF-Crime as distributed, shrunk: 2 anomaly categories, train/test normals, official lists.

    Train: Abuse001 (70 f), Abuse002 (40), Arrest001 (20, shorter than a clip), Normal_Videos001 (40),
    Normal_Videos002 (70). Test: Abuse003 (40), Normal_Videos_003 (70). Abuse004 is in no list.
    """
    root = tmp_path / "UCF_Crime"
    write_video(root / "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4", 70)
    write_video(root / "Anomaly-Videos-Part-1/Abuse/Abuse002_x264.mp4", 40)
    write_video(root / "Anomaly-Videos-Part-1/Abuse/Abuse003_x264.mp4", 40)
    write_video(root / "Anomaly-Videos-Part-1/Abuse/Abuse004_x264.mp4", 40)
    write_video(root / "Anomaly-Videos-Part-2/Arrest/Arrest001_x264.mp4", 20)
    write_video(root / "Training-Normal-Videos-Part-1/Normal_Videos001_x264.mp4", 40)
    write_video(root / "Training-Normal-Videos-Part-1/Normal_Videos002_x264.mp4", 70)
    write_video(root / "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4", 70)
    lists = root / "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits"
    lists.mkdir(parents=True)
    (lists / "Anomaly_Train.txt").write_text(
        "Abuse/Abuse001_x264.mp4\nAbuse/Abuse002_x264.mp4\nArrest/Arrest001_x264.mp4\n"
        "Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n"
        "Training_Normal_Videos_Anomaly/Normal_Videos002_x264.mp4\n"
    )
    (lists / "Anomaly_Test.txt").write_text(
        "Abuse/Abuse003_x264.mp4\nTesting_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4\n"
    )
    return root


@pytest.fixture
def tree_root(tmp_path: Path) -> Path:
    """``<root>/<split>/<category>``: train has 10 Normal and 4 Fighting videos, test 2; 20 frames each."""
    root = tmp_path / "tree"
    for i in range(10):
        write_video(root / f"train/Normal/n{i:02d}.mp4", 20)
    for i in range(4):
        write_video(root / f"train/Fighting/f{i:02d}.mp4", 20)
    write_video(root / "test/Normal/tn.mp4", 20)
    write_video(root / "test/Fighting/tf.mp4", 20)
    return root


def videos_by_split(index: pd.DataFrame) -> dict[str, set[str]]:
    """File names of the videos of each split."""
    return {split: {Path(p).name for p in rows["path"]} for split, rows in index.groupby("split")}


def test_clip_ranges_start_every_stride_while_the_clip_fits():
    assert clip_ranges(70, 32, 16) == [(0, 32), (16, 48), (32, 64)]
    assert clip_ranges(64, 32, 32) == [(0, 32), (32, 64)]
    assert clip_ranges(40, 32, 16) == [(0, 32)]
    assert clip_ranges(32, 32, 16) == [(0, 32)]


def test_clip_ranges_give_a_short_video_one_whole_clip():
    assert clip_ranges(20, 32, 16) == [(0, 20)]


def test_probe_video_reads_frame_count_and_fps(tmp_path):
    path = write_video(tmp_path / "v.mp4", 40)
    assert probe_video(path) == probe_video(path, exact_frames=True)
    info = probe_video(path)
    assert (info.n_frames, info.fps) == (40, FPS)


def test_ucf_crime_clips_follow_the_official_lists(ucf_root, tmp_path):
    out = tmp_path / "processed/index_clips.csv"
    index = build_index(out=str(out), root=str(ucf_root), clip_len=32, stride=16, val_fraction=0.0, progress=False).index
    assert videos_by_split(index) == {
        "train": {"Abuse001_x264.mp4", "Abuse002_x264.mp4", "Arrest001_x264.mp4",
                  "Normal_Videos001_x264.mp4", "Normal_Videos002_x264.mp4"},
        "test": {"Abuse003_x264.mp4", "Normal_Videos_003_x264.mp4"},
    }
    # clips per video: 70 frames -> 3, 40 -> 1, 20 -> 1 (short); train 3+1+1+1+3, test 1+3
    assert index.groupby("split").size().to_dict() == {"train": 9, "test": 4}
    abuse001 = index[index["path"].str.endswith("Abuse001_x264.mp4")]
    assert abuse001[["clip_idx", "start_frame", "end_frame"]].values.tolist() == [[0, 0, 32], [1, 16, 48], [2, 32, 64]]
    assert set(abuse001["n_frames"]) == {70} and set(abuse001["fps"]) == {FPS}


def test_ucf_crime_categories_and_labels(ucf_root, tmp_path):
    index = build_index(out=str(tmp_path / "i.csv"), root=str(ucf_root), val_fraction=0.0, progress=False).index
    labels = {Path(p).name: (c, y) for p, c, y in index[["path", "category", "y"]].itertuples(index=False)}
    assert labels == {
        "Abuse001_x264.mp4": ("Abuse", 1), "Abuse002_x264.mp4": ("Abuse", 1), "Abuse003_x264.mp4": ("Abuse", 1),
        "Arrest001_x264.mp4": ("Arrest", 1), "Normal_Videos001_x264.mp4": ("Normal", 0),
        "Normal_Videos002_x264.mp4": ("Normal", 0), "Normal_Videos_003_x264.mp4": ("Normal", 0),
    }


def test_short_video_gets_one_clip_of_all_its_frames(ucf_root, tmp_path):
    index = build_index(out=str(tmp_path / "i.csv"), root=str(ucf_root), val_fraction=0.0, progress=False).index
    arrest = index[index["category"] == "Arrest"]
    assert arrest[["start_frame", "end_frame", "n_frames"]].values.tolist() == [[0, 20, 20]]


def test_ucf_crime_split_list_naming_a_missing_file_is_an_error(ucf_root, tmp_path):
    (ucf_root / "Anomaly-Videos-Part-1/Abuse/Abuse002_x264.mp4").unlink()
    with pytest.raises(LitExtractError, match=r"Anomaly_Train\.txt: 1 listed video\(s\) not found.*Abuse002"):
        build_index(out=str(tmp_path / "i.csv"), root=str(ucf_root), progress=False)


def test_ucf_crime_split_lists_can_come_from_split_dir(ucf_root, tmp_path):
    moved = tmp_path / "lists"
    (ucf_root / "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits").rename(moved)
    with pytest.raises(LitExtractError, match="Anomaly_Train.txt"):
        build_index(out=str(tmp_path / "i.csv"), root=str(ucf_root), layout="ucf_crime", progress=False)
    index = build_index(out=str(tmp_path / "i.csv"), root=str(ucf_root), split_dir=str(moved), val_fraction=0.0, progress=False).index
    assert index["path"].nunique() == 7


def test_val_is_carved_from_train_by_video_and_stratified_by_category(tree_root, tmp_path):
    index = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.2, seed=0, progress=False).index
    videos = index.drop_duplicates("path")
    # 10 Normal * 0.2 = 2 and 4 Fighting * 0.2 = 0.8 -> 1 (rounded half up) move to val
    assert videos.groupby(["split", "category"]).size().to_dict() == {
        ("test", "Fighting"): 1, ("test", "Normal"): 1,
        ("train", "Fighting"): 3, ("train", "Normal"): 8,
        ("val", "Fighting"): 1, ("val", "Normal"): 2,
    }


def test_no_video_is_in_two_splits_and_test_is_untouched(tree_root, tmp_path):
    index = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.5, seed=3, progress=False).index
    assert (index.groupby("path")["split"].nunique() == 1).all()
    split_of = videos_by_split(index)
    assert split_of["test"] == {"tn.mp4", "tf.mp4"}
    assert split_of["train"] | split_of["val"] == {f"n{i:02d}.mp4" for i in range(10)} | {f"f{i:02d}.mp4" for i in range(4)}


def documented_val_draw(train: dict[str, list[str]], val_fraction: float, seed: int) -> set[str]:
    """The val videos ``assign_val``'s docstring promises, worked out here from that text alone.

    Per category with ``n`` train videos (``train``: category -> file names, all in one folder, so
    sorting names sorts paths): ``min(floor(n * f + 0.5), n - 1)`` of them, the first that many of
    ``numpy.random.default_rng([seed, crc32(category)]).permutation(n)`` over the sorted names.
    """
    picked = set()
    for category, names in train.items():
        names = sorted(names)
        n_val = min(math.floor(len(names) * val_fraction + 0.5), len(names) - 1)
        order = np.random.default_rng([seed, zlib.crc32(category.encode("utf-8"))]).permutation(len(names))
        picked |= {names[i] for i in order[:n_val]}
    return picked


TREE_TRAIN = {"Normal": [f"n{i:02d}.mp4" for i in range(10)], "Fighting": [f"f{i:02d}.mp4" for i in range(4)]}


def test_val_videos_are_the_documented_seeded_draw_per_category(tree_root, tmp_path):
    expected = documented_val_draw(TREE_TRAIN, 0.2, seed=7)
    assert len(expected) == 3  # 2 of 10 Normal, 1 of 4 Fighting
    for out in ("a.csv", "b.csv"):  # and again: the same seed gives the same videos
        index = build_index(out=str(tmp_path / out), root=str(tree_root), val_fraction=0.2, seed=7, progress=False).index
        assert videos_by_split(index)["val"] == expected


def test_different_seed_gives_different_val_videos(tree_root, tmp_path):
    seed0 = build_index(out=str(tmp_path / "a.csv"), root=str(tree_root), val_fraction=0.2, seed=0, progress=False).index
    seed1 = build_index(out=str(tmp_path / "b.csv"), root=str(tree_root), val_fraction=0.2, seed=1, progress=False).index
    assert videos_by_split(seed0)["val"] != videos_by_split(seed1)["val"]


def test_an_explicit_val_folder_is_kept(tree_root, tmp_path):
    write_video(tree_root / "val/Normal/vn.mp4", 20)
    index = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.5, progress=False).index
    assert videos_by_split(index)["val"] == {"vn.mp4"}
    assert len(videos_by_split(index)["train"]) == 14


def test_videos_csv_layout_reads_splits_categories_and_labels(tmp_path):
    write_video(tmp_path / "v/a.mp4", 40)
    write_video(tmp_path / "v/b.mp4", 70)
    (tmp_path / "videos.csv").write_text("path,split,category\nv/a.mp4,train,Normal\nv/b.mp4,test,Stealing\n")
    index = build_index(out=str(tmp_path / "i.csv"), videos_csv=str(tmp_path / "videos.csv"), val_fraction=0.0, progress=False).index
    assert index[["split", "category", "y", "start_frame"]].values.tolist() == [
        ["train", "Normal", 0, 0], ["test", "Stealing", 1, 0], ["test", "Stealing", 1, 16], ["test", "Stealing", 1, 32],
    ]
    assert index["path"].tolist()[0] == str((tmp_path / "v/a.mp4").resolve())


def test_unreadable_video_is_skipped_and_listed_in_the_sidecar(tree_root, tmp_path):
    (tree_root / "train/Normal/broken.mp4").write_bytes(b"")
    out = tmp_path / "out/index_clips.csv"
    result = build_index(out=str(out), root=str(tree_root), val_fraction=0.0, progress=False)
    assert "broken.mp4" not in {Path(p).name for p in result.index["path"]}
    assert result.skipped_csv == tmp_path / "out/index_clips_skipped.csv" == skipped_csv_path(out)
    sidecar = pd.read_csv(result.skipped_csv)
    assert sidecar["path"].tolist() == [str((tree_root / "train/Normal/broken.mp4").resolve())]
    assert sidecar["reason"].str.contains("cannot open").all()


def test_written_index_holds_the_rows_built_by_hand(tree_root, tmp_path):
    result = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.2, seed=0, progress=False)
    val = documented_val_draw(TREE_TRAIN, 0.2, seed=0)
    videos = [("val" if name in val else "train", category, tree_root / "train" / category / name)
              for category, names in TREE_TRAIN.items() for name in names]
    videos += [("test", "Fighting", tree_root / "test/Fighting/tf.mp4"), ("test", "Normal", tree_root / "test/Normal/tn.mp4")]
    order = {"train": 0, "val": 1, "test": 2}
    # every video has 20 frames < clip_len 32: one clip [0, 20) each; rows by split, then path
    expected = pd.DataFrame(
        [{"split": split, "y": int(category != "Normal"), "category": category, "path": str(path.resolve()),
          "clip_idx": 0, "start_frame": 0, "end_frame": 20, "clip_len": 32, "stride": 16, "fps": FPS, "n_frames": 20}
         for split, category, path in sorted(videos, key=lambda v: (order[v[0]], str(v[2].resolve())))]
    )
    assert len(expected) == 16
    pd.testing.assert_frame_equal(pd.read_csv(result.out), expected)  # the file, as written
    pd.testing.assert_frame_equal(load_index(result.out), expected)  # and as the extractor reads it


def test_missing_root_is_an_error_naming_it(tmp_path):
    with pytest.raises(LitExtractError, match=r"nowhere: --root is not a folder"):
        build_index(out=str(tmp_path / "i.csv"), root=str(tmp_path / "nowhere"), progress=False)


def test_root_without_videos_is_an_error(tmp_path):
    (tmp_path / "empty/train/Normal").mkdir(parents=True)
    with pytest.raises(LitExtractError, match=r"no \*\.mp4 videos found"):
        build_index(out=str(tmp_path / "i.csv"), root=str(tmp_path / "empty"), progress=False)


def test_unwritable_out_folder_is_an_error(tree_root, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(LitExtractError, match="cannot create the output folder"):
        build_index(out=str(tmp_path / "a_file/index.csv"), root=str(tree_root), progress=False)


def test_cli_index_writes_the_csv_and_prints_videos_and_clips_per_split(ucf_root, tmp_path, capsys):
    out = tmp_path / "processed/index_clips.csv"
    main(["index", "--root", str(ucf_root), "--out", str(out), "--clip-len", "32", "--stride", "16",
          "--val-fraction", "0", "--seed", "0", "--workers", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert len(load_index(out)) == 13
    table = [line.split() for line in printed.splitlines()]
    # columns: videos y=0, videos y=1, videos all, clips y=0, clips y=1, clips all
    assert ["train", "2", "3", "5", "4", "5", "9"] in table
    assert ["test", "1", "1", "2", "3", "1", "4"] in table
    assert ["all", "3", "4", "7", "7", "6", "13"] in table


def test_cli_index_error_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["index", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "i.csv")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: ")


# Damaged videos (``--exact-frames``): barcode H.264 videos (B-frames) damaged by overwriting bytes
# of their frame data (conftest.damage); OpenCV's grab() loop, PyAV and the barcodes are the references.
DAMAGED_FRAMES = 200  # 11 clips of 32 frames, stride 16


def barcode_h264(path: Path) -> Path:
    frames = (barcode_frame(k, 160, 120, "Fighting", 5) for k in range(DAMAGED_FRAMES))
    return write_barcode_video(path, frames, codec="h264")


def grab_count(path: Path) -> int:
    """Frames OpenCV's grab() reads before the first it refuses (how ``--exact-frames`` counted before)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def wrongly_decoded_frames(path: Path) -> set[int]:
    """Frame ids a naive PyAV decode (packet by packet, errors skipped) does not show as themselves."""
    import av

    seen = set()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                k = round((frame.pts - (stream.start_time or 0)) * stream.time_base * stream.average_rate)
                if read_barcode(frame.to_ndarray(format="rgb24")) == k:
                    seen.add(k)
    return set(range(DAMAGED_FRAMES)) - seen


def mostly_damaged(path: Path) -> Path:
    """``path`` with 30%..90% of its frame data overwritten by random bytes (container intact)."""
    data = bytearray(path.read_bytes())
    start, end = mdat_payload(bytes(data))
    first, last = start + (end - start) * 3 // 10, start + (end - start) * 9 // 10
    data[first:last] = np.random.default_rng(0).integers(0, 256, last - first, dtype=np.uint8).tobytes()
    out = path.with_name(f"{path.stem}_mostly_damaged.mp4")
    out.write_bytes(bytes(data))
    return out


def test_exact_frames_keeps_a_damaged_video_and_warns_with_its_counts(tree_root, tmp_path, capsys):
    damaged = damage(barcode_h264(tree_root / "test/Fighting/clean.mp4"), seed=4)
    (tree_root / "test/Fighting/clean.mp4").unlink()
    out = tmp_path / "i.csv"
    main(["index", "--root", str(tree_root), "--out", str(out), "--val-fraction", "0", "--exact-frames", "--no-progress"])
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, warnings  # the 16 clean videos are not reported
    found = re.fullmatch(rf"warning: {re.escape(str(damaged.resolve()))}: header says {DAMAGED_FRAMES} frames, "
                         rf"(\d+) decode \(frames (\d+)-(\d+) lost\); indexed with n_frames={DAMAGED_FRAMES}", warnings[0])
    assert found, warnings[0]
    decodable, first, last = map(int, found.groups())
    assert first == grab_count(damaged) < DAMAGED_FRAMES  # the damage stops OpenCV's grab() right there
    wrong = wrongly_decoded_frames(damaged)
    assert wrong and wrong <= set(range(first, last + 1))  # no wrong frame goes unreported
    assert decodable == DAMAGED_FRAMES - (last - first + 1) >= DAMAGED_FRAMES / 2
    index = load_index(out)
    rows = index[index["path"] == str(damaged.resolve())]
    assert rows["n_frames"].tolist() == [DAMAGED_FRAMES] * 11
    assert rows[["start_frame", "end_frame"]].values.tolist() == [[s, s + 32] for s in range(0, 161, 16)]
    assert len(index) == 16 + 11 and set(index.loc[index["path"] != str(damaged.resolve()), "n_frames"]) == {20}


def test_exact_frames_skips_a_video_of_which_less_than_half_decodes(tree_root, tmp_path):
    clean = barcode_h264(tmp_path / "clean.mp4")
    broken = mostly_damaged(clean)
    wrong = wrongly_decoded_frames(broken)
    assert len(wrong) > DAMAGED_FRAMES / 2  # reference: most frames really are lost
    target = tree_root / "test/Fighting/broken.mp4"
    broken.rename(target)
    result = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.0, exact_frames=True, progress=False)
    assert str(target.resolve()) not in set(result.index["path"])
    assert result.skipped["path"].tolist() == [str(target.resolve())]
    assert re.fullmatch(rf"only \d+ of {DAMAGED_FRAMES} frames decode \(frames .* lost\); .*at least half.*",
                        result.skipped["reason"].item())
    assert result.damaged.empty


def test_without_exact_frames_a_damaged_video_keeps_its_header_count(tree_root, tmp_path, caplog):
    damage(barcode_h264(tmp_path / "clean.mp4"), seed=4).rename(tree_root / "test/Fighting/damaged.mp4")
    result = build_index(out=str(tmp_path / "i.csv"), root=str(tree_root), val_fraction=0.0, progress=False)
    rows = result.index[result.index["path"].str.endswith("damaged.mp4")]
    assert rows["n_frames"].tolist() == [DAMAGED_FRAMES] * 11
    assert result.damaged.empty and not caplog.records


def test_exact_frames_without_pyav_counts_what_opencv_grabs(tmp_path, monkeypatch):
    clean, damaged = write_video(tmp_path / "v.mp4", 40), damage(barcode_h264(tmp_path / "h.mp4"), seed=4)
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    assert probe_video(clean, exact_frames=True).n_frames == 40
    counted = probe_video(damaged, exact_frames=True)
    assert counted.n_frames == counted.decodable == grab_count(damaged) < DAMAGED_FRAMES  # the tail is lost


def test_exact_frames_decodes_every_frame_skipping_none(tmp_path, monkeypatch):
    path = barcode_h264(tmp_path / "h.mp4")

    from lit_extract.decode.video import UnsampledSkip

    def no_skipping(wanted, context=None, clock=None):
        if context is not None:  # a skipper given the decoder
            raise AssertionError("counting frames must decode every one (damage in any frame counts)")
        return UnsampledSkip(wanted)

    monkeypatch.setattr("lit_extract.decode.video.UnsampledSkip", no_skipping)
    assert probe_video(path, exact_frames=True).n_frames == DAMAGED_FRAMES
