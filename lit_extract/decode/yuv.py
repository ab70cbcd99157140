"""The decoder's colour conversion as a table: YUV 4:2:0 planes -> RGB on the device, bit for bit.

With ``--data.decoder pyav --data.transform device`` the workers neither convert colours nor
resize: each sampled frame is shipped as the decoder's own YUV 4:2:0 planes (half the bytes of
RGB, and no conversion on the CPU) and converted on the device.

FFmpeg's conversion of a 4:2:0 frame to 8-bit RGB (swscale, as PyAV's
``frame.to_ndarray(format="bgr24")`` calls it) gives each pixel a value that depends only on its
own Y and the U, V of its 2 x 2 block (for even frame sizes; frames with an odd side are converted
on the CPU as before). So a table of every (Y, U, V), 2^24 entries, made by
converting one synthetic frame that holds each triple once, with the same call, pixel format,
colour space and range as the video's frames, reproduces the decoder's conversion exactly:
``table[Y << 16 | U << 8 | V]`` is the pixel's R, G, B (tests/decode/test_yuv.py checks it on decoded
frames). A table is 48 MiB and takes ~1.5 s to build, once per process and colour setting.

Packed layout of one frame (a row of a device-path batch, :mod:`lit_extract.decode.device_transform`)::

    Y (h, w), then U (ch, cw), then V (ch, cw)     ch = ceil(h / 2), cw = ceil(w / 2)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

RGB = 0  # colour code of a frame shipped as R, G, B planes (converted on the CPU)
FORMATS = ("yuv420p", "yuvj420p")  # pixel formats shipped as planes; any other is converted on the CPU


def colour_code(pix_fmt: str, colorspace: int, color_range: int) -> int:
    """The code (> 0) naming a YUV 4:2:0 frame's conversion: its pixel format, colour space and range."""
    return (FORMATS.index(pix_fmt) + 1) << 16 | int(colorspace) << 8 | int(color_range)


def code_setting(code: int) -> tuple[str, int, int]:
    """``colour_code``'s inverse: (pixel format, colour space, colour range)."""
    return FORMATS[(code >> 16) - 1], (code >> 8) & 0xFF, code & 0xFF


def planes_bytes(height: int, width: int) -> int:
    """Bytes of one packed 4:2:0 frame of ``height x width``."""
    return height * width + 2 * ((height + 1) // 2) * ((width + 1) // 2)


@dataclass(frozen=True, slots=True)
class Yuv420Frame:
    """A decoded frame's Y, U, V planes (uint8 views of the decoder's frame, which they keep alive).

    ``shape`` is (h, w) like an image's first two dimensions; :meth:`write` packs the planes.
    """

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    code: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.planes[0].shape

    @property
    def nbytes(self) -> int:
        return planes_bytes(*self.shape)

    def write(self, out: np.ndarray) -> None:
        """Pack Y, U, V into the start of the 1-D uint8 ``out`` (the module docstring's layout)."""
        y, u, v = self.planes
        luma, chroma = y.size, u.size
        np.copyto(out[:luma].reshape(y.shape), y)
        np.copyto(out[luma : luma + chroma].reshape(u.shape), u)
        np.copyto(out[luma + chroma : luma + 2 * chroma].reshape(v.shape), v)

    @classmethod
    def from_av(cls, frame: Any) -> Yuv420Frame | None:
        """The planes of a PyAV ``VideoFrame``, or None when its pixel format is not 4:2:0 8-bit or a
        side is odd (swscale converts odd sizes another way, which the table does not reproduce)."""
        name = frame.format.name
        height, width = frame.height, frame.width
        if name not in FORMATS or height % 2 or width % 2:
            return None
        y, u, v = frame.planes  # rows padded to line_size bytes
        half_height, half_width = height // 2, width // 2
        planes = (
            np.frombuffer(y, np.uint8).reshape(-1, y.line_size)[:height, :width],
            np.frombuffer(u, np.uint8).reshape(-1, u.line_size)[:half_height, :half_width],
            np.frombuffer(v, np.uint8).reshape(-1, v.line_size)[:half_height, :half_width],
        )
        return cls(planes, colour_code(name, frame.colorspace, frame.color_range))


@functools.lru_cache(maxsize=4)
def conversion_table(code: int) -> torch.Tensor:
    """uint8 (2^24, 3): R, G, B of every ``Y << 16 | U << 8 | V`` as the decoder converts frames of ``code``."""
    import av

    pix_fmt, colorspace, color_range = code_setting(code)
    side = 4096  # 4096^2 pixels: 65,536 (U, V) pairs x 64 blocks of 2 x 2, each block 4 of the 256 Y values
    block = np.arange((side // 2) ** 2)
    pair, group = block // 64, block % 64
    u_plane = (pair >> 8).astype(np.uint8).reshape(side // 2, side // 2)
    v_plane = (pair & 0xFF).astype(np.uint8).reshape(side // 2, side // 2)
    y_plane = (4 * group[:, None] + np.arange(4)).astype(np.uint8)  # (blocks, 4): top-left, top-right, bottom-...
    y_plane = y_plane.reshape(side // 2, side // 2, 2, 2).transpose(0, 2, 1, 3).reshape(side, side)
    frame = av.VideoFrame(side, side, pix_fmt)
    frame.colorspace, frame.color_range = colorspace, color_range
    for plane, values in zip(frame.planes, (y_plane, u_plane, v_plane)):
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: values.shape[0], : values.shape[1]] = values
    bgr = frame.to_ndarray(format="bgr24").reshape(-1, 3)  # the exact path's call
    full = lambda plane: np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1).reshape(-1)  # noqa: E731
    index = y_plane.reshape(-1).astype(np.int64) << 16 | full(u_plane).astype(np.int64) << 8 | full(v_plane)
    table = np.empty((1 << 24, 3), np.uint8)
    table[index] = bgr[:, ::-1]  # BGR -> RGB
    return torch.from_numpy(table)


@functools.lru_cache(maxsize=8)
def device_table(code: int, device: torch.device) -> torch.Tensor:
    """:func:`conversion_table` on ``device`` (copied there once per process)."""
    return conversion_table(code).to(device)


def yuv420_to_rgb(packed: torch.Tensor, height: int, width: int, code: int) -> torch.Tensor:
    """uint8 (N, S) packed 4:2:0 frames (S >= ``planes_bytes(height, width)``) -> uint8 RGB (N, 3, h, w),
    converted exactly as the decoder would (on ``packed``'s device)."""
    count = packed.shape[0]
    chroma_h, chroma_w = (height + 1) // 2, (width + 1) // 2
    luma, chroma = height * width, chroma_h * chroma_w
    y = packed[:, :luma].reshape(count, height, width).int()
    u, v = (
        packed[:, luma + i * chroma : luma + (i + 1) * chroma]
        .reshape(count, chroma_h, chroma_w)
        .repeat_interleave(2, dim=1)
        .repeat_interleave(2, dim=2)[:, :height, :width]
        .int()
        for i in (0, 1)
    )
    index = (y << 16) | (u << 8) | v
    rgb = device_table(code, packed.device)[index.flatten().long()]  # (N h w, 3)
    return rgb.view(count, height, width, 3).permute(0, 3, 1, 2)
