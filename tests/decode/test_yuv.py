"""lit_extract.decode.yuv: the decoder's YUV 4:2:0 -> RGB conversion as a table, checked against the decoders' own."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from lit_extract.commands.demo import write_video
from lit_extract.decode.yuv import Yuv420Frame, planes_bytes, yuv420_to_rgb

av = pytest.importorskip("av")


def packed(frame: Yuv420Frame) -> torch.Tensor:
    out = np.empty(frame.nbytes, np.uint8)
    frame.write(out)
    return torch.from_numpy(out)[None]


def random_frame(pix_fmt: str, colorspace: int = 2, color_range: int = 0, width: int = 320, height: int = 240):
    """A PyAV frame of random Y, U, V planes (76,800 pixels: many triples) tagged with a colour setting."""
    rng = np.random.default_rng(colorspace * 10 + color_range)
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane in frame.planes:
        np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, dtype=np.uint8)
    frame.colorspace, frame.color_range = colorspace, color_range
    return frame


@pytest.mark.parametrize(
    "pix_fmt, colorspace, color_range",
    [("yuv420p", 2, 0), ("yuv420p", 1, 1), ("yuvj420p", 2, 2)],
    ids=["untagged", "bt709-limited", "full-range"],
)
def test_table_converts_a_frame_as_pyav_does_for_its_colour_setting(pix_fmt, colorspace, color_range):
    frame = random_frame(pix_fmt, colorspace, color_range)
    planes = Yuv420Frame.from_av(frame)
    got = yuv420_to_rgb(packed(planes), 240, 320, planes.code)[0].permute(1, 2, 0).numpy()
    expected = frame.to_ndarray(format="bgr24")[:, :, ::-1]  # what the exact path's PyAV decoder makes
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("width, height", [(34, 18), (642, 362), (2, 2)])
def test_table_converts_frames_of_any_even_size_as_pyav_does(width, height):
    frame = random_frame("yuv420p", width=width, height=height)
    planes = Yuv420Frame.from_av(frame)
    got = yuv420_to_rgb(packed(planes), height, width, planes.code)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, frame.to_ndarray(format="bgr24")[:, :, ::-1])


def test_table_converts_decoded_h264_frames_as_opencv_does(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (144, 176, 3), dtype=np.uint8) for _ in range(6)]  # noise: many colours
    path = str(write_video(tmp_path / "noise.mp4", frames, codec="h264"))
    capture = cv2.VideoCapture(path)
    with av.open(path) as container:
        for frame in container.decode(video=0):
            ok, bgr = capture.read()  # the default decoder's colours, the exact path's
            planes = Yuv420Frame.from_av(frame)
            assert ok and planes.nbytes == planes_bytes(144, 176) == 144 * 176 * 3 // 2
            got = yuv420_to_rgb(packed(planes), 144, 176, planes.code)[0].permute(1, 2, 0).numpy()
            np.testing.assert_array_equal(got, bgr[:, :, ::-1])
    capture.release()


def test_frames_in_other_pixel_formats_are_not_shipped_as_planes():
    assert Yuv420Frame.from_av(av.VideoFrame(32, 16, "yuv444p")) is None
    assert Yuv420Frame.from_av(av.VideoFrame(32, 16, "rgb24")) is None


def test_frames_with_an_odd_side_are_not_shipped_as_planes():
    # swscale converts them another way (the table would be wrong for nearly every pixel)
    assert Yuv420Frame.from_av(random_frame("yuv420p", width=33, height=18)) is None
    assert Yuv420Frame.from_av(random_frame("yuv420p", width=34, height=17)) is None
