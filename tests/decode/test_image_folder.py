"""Image-folder videos: a folder of numbered images is a video, frame k = the image numbered k.

The pictures are the barcode frames of ``lit_extract.commands.demo`` (frame ``k`` shows ``k``), saved as PNG
(lossless), so the folder's frames must equal, bit for bit, the same pictures encoded losslessly
as a video (FFV1 in BGR, via PyAV) and decoded by the video readers; ``read_barcode`` proves which
frame each one is, independently of lit_extract.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import clip_rows, read_barcode, write_index
from lit_extract.commands.cli import main
from lit_extract.decode.crops import TenCrop
from lit_extract.commands.demo import barcode_frame
from lit_extract.indexing.scan import build_index, probe_video
from lit_extract.decode.video import STATUS_OK, STATUS_REPEATED, VideoOutcome, decode_clip_frames, sample_frame_ids

N_FRAMES = 40
SIZE = (80, 60)  # width, height


def pictures(n: int = N_FRAMES) -> list[np.ndarray]:
    """The RGB barcode frames 0..n-1."""
    return [barcode_frame(k, *SIZE, "Fighting", 5) for k in range(n)]


def write_folder(folder: Path, frames: list[np.ndarray], name=lambda k: f"{k:03d}.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, rgb in enumerate(frames):
        assert cv2.imwrite(str(folder / name(k)), rgb[:, :, ::-1])
    return folder


def write_ffv1(path: Path, frames: list[np.ndarray]) -> Path:
    """The frames as a lossless FFV1 video (BGR pixels, no chroma subsampling)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "bgr0"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def clip_ids(n: int = N_FRAMES, clip_len: int = 16, stride: int = 8, frames: int = 4) -> list[np.ndarray]:
    return [sample_frame_ids(s, s + clip_len, frames) for s in range(0, n - clip_len + 1, stride)]


def decoded(path: Path, decoder: str = "opencv", **options) -> tuple[dict[int, list[np.ndarray]], dict[int, int], VideoOutcome]:
    outcome = VideoOutcome(str(path))
    frames, statuses = {}, {}
    for i, clip, status in decode_clip_frames(str(path), clip_ids(), 32, decoder, outcome, **options):
        frames[i], statuses[i] = [np.array(f) for f in clip], status
    return frames, statuses, outcome


@pytest.fixture(scope="module")
def folder_and_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_folder")
    frames = pictures()
    return write_folder(root / "clip", frames), write_ffv1(root / "clip.mkv", frames)


@pytest.mark.parametrize("decoder", ["opencv", "pyav"])
@pytest.mark.parametrize("path", ["exact", "ten_crop", "device"])
def test_image_folder_frames_equal_those_of_the_same_pictures_in_a_lossless_video(folder_and_video, decoder, path):
    folder, video = folder_and_video
    options = {"exact": {}, "ten_crop": {"crop": TenCrop(40, 32)}, "device": {"native": True}}[path]
    from_folder, folder_status, _ = decoded(folder, decoder, **options)
    from_video, video_status, _ = decoded(video, decoder, **options)
    assert from_folder.keys() == from_video.keys() and len(from_folder) == len(clip_ids())
    for i in from_video:
        for a, b in zip(from_folder[i], from_video[i]):
            np.testing.assert_array_equal(a, b, err_msg=f"clip {i}")
    assert set(folder_status.values()) == {STATUS_OK} and folder_status == video_status


def test_image_folder_native_frames_are_the_saved_pictures(folder_and_video):
    folder, _ = folder_and_video
    frames, _, _ = decoded(folder, native=True)
    for i, ids in enumerate(clip_ids()):
        for k, frame in zip(ids, frames[i]):
            np.testing.assert_array_equal(frame[:, :, ::-1], pictures()[k])


def test_image_names_are_sorted_as_numbers_not_as_strings(tmp_path):
    folder = write_folder(tmp_path / "unpadded", pictures(), name=lambda k: f"img_{k + 1}.jpg")  # img_1 .. img_40
    frames, _, outcome = decoded(folder)
    assert not outcome.lost
    for i, ids in enumerate(clip_ids()):
        assert [read_barcode(frame[:, :, ::-1]) for frame in frames[i]] == ids.tolist()


@pytest.fixture
def damaged_folder(tmp_path):
    """Images 000..039 with 005 missing and 010 corrupt (garbage bytes); both are sampled by clip 0."""
    folder = write_folder(tmp_path / "damaged", pictures())
    (folder / "005.png").unlink()
    (folder / "010.png").write_bytes(b"\x89PNG not really an image")
    return folder


def test_missing_and_corrupt_images_are_lost_frames_that_shift_nothing(damaged_folder):
    frames, statuses, outcome = decoded(damaged_folder)
    assert outcome.lost == [[5, 5], [10, 10]]
    for i, ids in enumerate(clip_ids()):
        hit = {5, 10} & set(ids.tolist())
        assert statuses[i] == (STATUS_REPEATED if hit else STATUS_OK), i
        for k, frame in zip(ids, frames[i]):
            if k not in hit:
                assert read_barcode(frame[:, :, ::-1]) == k
        for position, k in enumerate(ids):
            if k in hit:  # the last good frame of the clip repeats
                np.testing.assert_array_equal(frames[i][position], frames[i][position - 1])


def test_index_counts_images_and_reports_missing_and_undecodable_ones(damaged_folder):
    counted = probe_video(damaged_folder, image_fps=12.5)
    assert (counted.n_frames, counted.fps, counted.lost) == (N_FRAMES, 12.5, ((5, 5),))
    decoded_all = probe_video(damaged_folder, exact_frames=True)
    assert (decoded_all.n_frames, decoded_all.fps, decoded_all.lost) == (N_FRAMES, 30.0, ((5, 5), (10, 10)))


def test_index_of_a_tree_of_image_folders_uses_the_given_fps(tmp_path):
    root = tmp_path / "videos"
    write_folder(root / "train" / "Normal" / "a", pictures(20))
    write_folder(root / "test" / "Fighting" / "b", pictures(24))
    (root / "test" / "Fighting" / "empty").mkdir()  # a folder without images is no video
    built = build_index(out=str(tmp_path / "index.csv"), root=str(root), layout="tree", clip_len=8, stride=8,
                        val_fraction=0, image_fps=25.0, progress=False)
    videos = built.index.drop_duplicates("path").set_index("path")
    assert videos.loc[str(root / "train" / "Normal" / "a"), ["n_frames", "fps"]].tolist() == [20, 25.0]
    assert videos.loc[str(root / "test" / "Fighting" / "b"), ["n_frames", "y"]].tolist() == [24, 1]
    assert len(built.index) == 20 // 8 + 24 // 8


def predict(index: Path, out: Path, *extra: str) -> None:
    main(["predict", "--data.index_path", str(index), "--data.img_size", "32", "--data.frames", "4",
          "--data.batch_size", "1", "--data.num_workers", "0", "--data.splits", "[test]",
          "--model.encoder", "r3d_18", "--model.weights", "none", "--writer.output_dir", str(out),
          "--writer.flush_interval_s", "0", "--trainer.accelerator", "cpu",
          "--trainer.enable_progress_bar", "false", *extra])


def test_predict_from_an_image_folder_equals_predict_from_the_video_and_resumes(folder_and_video, tmp_path):
    folder, video = folder_and_video
    indexes = {name: write_index(tmp_path / f"{name}.csv", clip_rows(path, "test", "Fighting", N_FRAMES, 16, 8))
               for name, path in (("folder", folder), ("video", video))}
    predict(indexes["video"], tmp_path / "video")
    predict(indexes["folder"], tmp_path / "stopped", "--trainer.limit_predict_batches", "2")
    assert np.load(tmp_path / "stopped" / "done_r3d_18_test.npy").sum() == 2
    predict(indexes["folder"], tmp_path / "stopped")  # resumes the rows not done
    for name in ("emb_r3d_18_test.npy", "status_test.npy", "done_r3d_18_test.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "stopped" / name), np.load(tmp_path / "video" / name), err_msg=name)
