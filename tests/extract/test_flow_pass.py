"""Two streams in one pass: the frames a flow row decodes, the flow it sees, the RGB rows beside it.

- Frames: every frame of the barcode videos carries its index (``conftest.read_barcode``), so the
  frames a flow run's rows decode are read back: the row's T frames, then the next one; a row that
  ends the video repeats its last frame.
- Flow: the flow rows equal ``i3d_inception_flow`` fed torchvision's own RAFT forward on each pair
  of consecutive frames (same seeded RAFT weights, frames scaled as torchvision's ``OpticalFlow``
  transform does), clipped to [-20, 20] and divided by 20 -- written out here; the RGB rows equal
  ``i3d_inception`` on the first T frames, as a run without flow.
- Memory: a long video's flow is computed one batch at a time (the flow model never sees more than
  one batch's frame pairs).
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models import optical_flow

from conftest import clip_rows, read_barcode, write_index
from tiny_flow import tiny_flow  # noqa: F401  (fixture)
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.encoders import optical_flow as flow_models
from lit_extract.errors import LitExtractError
from lit_extract.extract.data import ClipDataModule
from lit_extract.extract.module import FrozenVideoEncoder

FRAMES, SIZE, UPDATES = 9, 200, 1  # the smallest I3D clip, at a size RAFT takes unpadded


@pytest.fixture(scope="module")
def raft_file(tmp_path_factory) -> tuple[torch.nn.Module, str]:
    torch.manual_seed(5)
    raft = optical_flow.raft_small(weights=None).eval()
    path = tmp_path_factory.mktemp("raft") / "raft_small.pth"
    torch.save(raft.state_dict(), path)
    return raft, str(path)


@pytest.fixture(scope="module")
def two_stream(raft_file) -> FrozenVideoEncoder:
    torch.manual_seed(0)
    return FrozenVideoEncoder(encoder=["i3d_inception", "i3d_inception_flow"], weights="none", frames=FRAMES,
                              img_size=SIZE, flow="raft_small", flow_weights=raft_file[1], flow_updates=UPDATES)


@pytest.fixture(scope="module")
def predicted(two_stream) -> dict[str, torch.Tensor]:
    """The two-stream pass's rows of :func:`moving_clip` (one predict_step)."""
    with torch.no_grad():
        return two_stream.predict_step({"clips": moving_clip()}, 0)


def moving_clip() -> torch.Tensor:
    """uint8 (1, 3, FRAMES + 1, SIZE, SIZE): a bright square moving right 3 px a frame on noise."""
    generator = torch.Generator().manual_seed(3)
    clip = (torch.rand(1, 3, 1, SIZE, SIZE, generator=generator) * 60).repeat(1, 1, FRAMES + 1, 1, 1)
    for t in range(FRAMES + 1):
        clip[:, :, t, 80:120, 40 + 3 * t: 80 + 3 * t] = 220
    return clip.round().to(torch.uint8)


def test_flow_rows_are_the_flow_encoder_on_torchvisions_raft_of_consecutive_frames(two_stream, predicted,
                                                                                    raft_file) -> None:
    raft, _ = raft_file
    clip = moving_clip()
    got = predicted
    with torch.no_grad():
        scaled = clip.float() * 2 / 255 - 1  # torchvision's OpticalFlow transform
        flows = torch.stack([raft(scaled[:, :, t], scaled[:, :, t + 1], num_flow_updates=UPDATES)[-1]
                             for t in range(FRAMES)], dim=2)  # 1 2 T H W
        expected = two_stream.member("i3d_inception_flow").encoder(flows.clamp(-20, 20) / 20)
    assert got["i3d_inception_flow"].shape == (1, 1024)
    torch.testing.assert_close(got["i3d_inception_flow"], expected, rtol=0, atol=1e-3 * expected.norm().item())


def test_rgb_rows_of_a_two_stream_pass_see_the_first_t_frames(two_stream, predicted) -> None:
    clip = moving_clip()
    got = predicted["i3d_inception"]
    with torch.no_grad():
        expected = two_stream.member("i3d_inception").encoder(clip[:, :, :FRAMES].float() / 255 * 2 - 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4 * expected.norm().item())


def test_a_flow_run_asks_the_data_for_the_next_frame_and_records_its_flow(two_stream, raft_file) -> None:
    assert two_stream.needs_next_frame
    described = two_stream.describe()["i3d_inception_flow"]
    assert described["kind"] == "flow" and "mean" not in described
    assert described["flow"] == {"model": "raft_small", "weights": raft_file[1], "updates": UPDATES,
                                 "flip": "physical", "quantize": False}


@pytest.mark.parametrize(("setting", "message"), [
    ({"flow": "tvl1"}, "--model.flow 'tvl1': choose one of raft_large, raft_small"),
    ({"flow_updates": 0}, "--model.flow_updates 0: RAFT needs at least 1 update"),
    ({"flow_flip": "mirror"}, "--model.flow_flip 'mirror': choose physical, mirrored_images"),
])
def test_bad_flow_settings_are_refused_before_any_weights_load(setting, message) -> None:
    with pytest.raises(LitExtractError, match=message):
        FrozenVideoEncoder(encoder=["i3d_inception", "i3d_inception_flow"], weights="/nonexistent.pth",
                           frames=FRAMES, img_size=SIZE, **setting)


# --- the frames a flow row decodes ----------------------------------------------------------------


def decoded(tmp_path, n_frames: int, clip_len: int, frames: int, next_frame: bool) -> tuple[list[list[int]], list[int]]:
    """The barcodes of each row's decoded frames and each row's status, for one barcode video of
    ``n_frames`` frames."""
    video = write_video(tmp_path / "v.mp4", (barcode_frame(k, 160, 120, "Normal") for k in range(n_frames)))
    index = write_index(tmp_path / "index.csv", clip_rows(video, "train", "Normal", n_frames, clip_len, clip_len))
    data = ClipDataModule(str(index), frames=frames, img_size=64, batch_size=8, num_workers=0)
    data.setup("predict")
    data.next_frame = lambda: next_frame  # what a module with a flow encoder asks for
    rows, statuses = {}, {}
    for batch in data.stream("train"):
        for row, clip, status in zip(batch["rows"].tolist(), batch["clips"].numpy(), batch["status"].tolist()):
            rows[row] = [read_barcode(clip[:, t].transpose(1, 2, 0)) for t in range(clip.shape[1])]  # clip: 3 T H W
            statuses[row] = status
        batch.release()
    return [rows[row] for row in sorted(rows)], [statuses[row] for row in sorted(rows)]


def decoded_ids(tmp_path, n_frames: int, clip_len: int, frames: int, next_frame: bool) -> list[list[int]]:
    return decoded(tmp_path, n_frames, clip_len, frames, next_frame)[0]


def test_flow_rows_decode_their_frames_and_the_next_one(tmp_path) -> None:
    assert decoded_ids(tmp_path, 20, 8, 8, next_frame=True) == [[*range(8), 8], [*range(8, 16), 16]]


def test_a_row_ending_the_video_repeats_its_last_frame_as_the_next(tmp_path) -> None:
    ids, statuses = decoded(tmp_path, 16, 8, 8, next_frame=True)
    assert ids[-1] == [*range(8, 16), 15]
    assert statuses == [0, 0]  # the video's own last frame, asked for: no frame is missing


def test_sampled_rows_take_the_next_frame_one_sampling_step_on(tmp_path) -> None:
    assert decoded_ids(tmp_path, 40, 16, 4, next_frame=True) == [[0, 5, 10, 15, 20], [16, 21, 26, 31, 36]]


def test_runs_without_flow_decode_the_rows_frames_only(tmp_path) -> None:
    assert decoded_ids(tmp_path, 20, 8, 8, next_frame=False) == [list(range(8)), list(range(8, 16))]


# --- memory ---------------------------------------------------------------------------------------


def test_a_long_videos_flow_is_computed_one_batch_at_a_time(tmp_path, monkeypatch, raft_file, tiny_flow) -> None:
    """A 300-frame video, 18 rows of 16 frames, batches of 2 rows: the flow model sees at most one
    batch's frame pairs (2 rows x 2 flows) at a time, and every row's pairs once."""
    seen = []
    forward = flow_models.RaftFlow.forward

    def counting(self, first, second):
        seen.append(len(first))
        return forward(self, first, second)

    monkeypatch.setattr(flow_models.RaftFlow, "forward", counting)
    from lit_extract.commands.cli import main

    video = write_video(tmp_path / "long.mp4", (barcode_frame(k, 64, 48, "Normal") for k in range(300)))
    index = write_index(tmp_path / "index.csv", clip_rows(video, "train", "Normal", 300, 16, 16))
    main(["predict", "--data.index_path", str(index), "--data.frames", "2", "--data.img_size", "16",
          "--data.batch_size", "2", "--data.num_workers", "0", "--model.encoder", "[r3d_18, tiny_flow]",
          "--model.weights", "none", "--model.flow", "raft_small", "--model.flow_weights", raft_file[1],
          "--model.flow_updates", "1", "--writer.output_dir", str(tmp_path / "run"),
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    assert max(seen) <= 2 * 2 and sum(seen) == 18 * 2


# --- the centre crop (THUMOS'14's recipe) ---------------------------------------------------------


def test_a_centre_crop_two_stream_pass_writes_one_crop_rows_and_exports_two_stream_files(tmp_path, raft_file,
                                                                                         tiny_flow) -> None:
    """``--data.crops 1 --data.crop_order centre``: both streams' files hold (rows, D) as any one-crop
    run (no crops axis), the manifest says one centre crop, and ``export --format two-stream`` takes it."""
    import json

    import numpy as np

    from lit_extract.commands.cli import main

    video = write_video(tmp_path / "video_test_0000004.mp4", (barcode_frame(k, 64, 48, "Normal") for k in range(40)))
    index = write_index(tmp_path / "index.csv", clip_rows(video, "test", "Normal", 40, 16, 4))
    run = tmp_path / "run"
    main(["predict", "--data.index_path", str(index), "--data.frames", "2", "--data.img_size", "16",
          "--data.crops", "1", "--data.crop_order", "centre", "--data.resize_short", "20",
          "--data.batch_size", "4", "--data.num_workers", "0", "--model.encoder", "[r3d_18, tiny_flow]",
          "--model.weights", "none", "--model.flow", "raft_small", "--model.flow_weights", raft_file[1],
          "--model.flow_updates", "1", "--writer.output_dir", str(run),
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    rows = len(range(0, 40 - 16 + 1, 4))
    for encoder, dim in (("r3d_18", 512), ("tiny_flow", 8)):
        manifest = json.loads((run / f"manifest_{encoder}.json").read_text())
        assert (manifest["crops"], manifest["crop_order"], manifest["resize_short"]) == (1, "centre", 20)
        assert np.load(run / manifest["splits"]["test"]["files"]["embeddings"]).shape == (rows, dim)
    main(["export", "--manifest", str(run / "manifest_r3d_18.json"), "--format", "two-stream",
          "--out", str(tmp_path / "thumos")])
    assert np.load(tmp_path / "thumos" / "video_test_0000004.npy").shape == (rows, 512 + 8)


# --- the row status and the flow status ------------------------------------------------------------


@pytest.fixture
def next_frame_lost(tmp_path):
    """A 24-image folder video (image k shows k) whose image 8 is corrupt: the frame just after row
    0's last frame (rows of 8 frames: [0, 8), [8, 16), [16, 24)); the index of its three rows."""
    import cv2

    folder = tmp_path / "clip"
    folder.mkdir()
    for k in range(24):
        assert cv2.imwrite(str(folder / f"{k:03d}.png"), barcode_frame(k, 80, 60, "Normal")[:, :, ::-1])
    (folder / "008.png").write_bytes(b"\x89PNG not really an image")
    return write_index(tmp_path / "index.csv", clip_rows(folder, "train", "Normal", 24, 8, 8))


def batch_statuses(index, next_frame: bool) -> tuple[list[int], list[int] | None]:
    """Each row's status and flow status (None: the batches hold none), in row order."""
    data = ClipDataModule(str(index), frames=8, img_size=32, batch_size=8, num_workers=0)
    data.setup("predict")
    data.next_frame = lambda: next_frame  # what a module with a flow encoder asks for
    status, flow = {}, {}
    for batch in data.stream("train"):
        status.update(zip(batch["rows"].tolist(), batch["status"].tolist()))
        if "flow_status" in batch:
            flow.update(zip(batch["rows"].tolist(), batch["flow_status"].tolist()))
        batch.release()
    return [status[row] for row in sorted(status)], ([flow[row] for row in sorted(flow)] if flow else None)


def test_the_row_status_counts_the_rows_own_frames_not_the_flows_next_frame(next_frame_lost) -> None:
    # row 0: frames 0-7 decoded, its next frame 8 lost; row 1: frame 8 is its own; row 2 ends the video
    assert batch_statuses(next_frame_lost, next_frame=True)[0] == [0, 1, 0]
    assert batch_statuses(next_frame_lost, next_frame=False) == ([0, 1, 0], None)  # as a run without flow


def test_the_flow_status_counts_the_next_frame_too(next_frame_lost) -> None:
    assert batch_statuses(next_frame_lost, next_frame=True)[1] == [1, 1, 0]


def test_a_two_stream_pass_writes_the_flow_status_in_the_flow_encoders_own_file(next_frame_lost, tmp_path,
                                                                                   raft_file, tiny_flow) -> None:
    import json

    import numpy as np

    from lit_extract.commands.cli import main

    run = tmp_path / "run"
    main(["predict", "--data.index_path", str(next_frame_lost), "--data.frames", "8", "--data.img_size", "16",
          "--data.batch_size", "4", "--data.num_workers", "0", "--model.encoder", "[r3d_18, tiny_flow]",
          "--model.weights", "none", "--model.flow", "raft_small", "--model.flow_weights", raft_file[1],
          "--model.flow_updates", "1", "--writer.output_dir", str(run),
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    rgb, flow = (json.loads((run / f"manifest_{name}.json").read_text()) for name in ("r3d_18", "tiny_flow"))
    assert rgb["splits"]["train"]["files"]["status"] == "status_train.npy"
    assert flow["splits"]["train"]["files"]["status"] == "status_tiny_flow_train.npy"
    assert np.load(run / "status_train.npy").tolist() == [0, 1, 0]
    assert np.load(run / "status_tiny_flow_train.npy").tolist() == [1, 1, 0]
    assert np.load(run / "y_tiny_flow_train.npy").tolist() == np.load(run / "y_train.npy").tolist()
    assert rgb["splits"]["train"]["status_counts"] == {"ok": 2, "repeated_frames": 1, "unreadable": 0}
    assert flow["splits"]["train"]["status_counts"] == {"ok": 1, "repeated_frames": 2, "unreadable": 0}
    assert flow["splits"]["train"]["affected_videos"] == {str(next_frame_lost.parent / "clip"): 1}
    assert flow["splits"]["train"]["lost_frames"] == {str(next_frame_lost.parent / "clip"): [[8, 8]]}
