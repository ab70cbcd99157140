"""OpenCV video captures that leave the reporting of unreadable videos and lost frames to lit_extract.

Opening a file that is not a video prints OpenCV's own warning (``[ WARN:0@25.045] global
cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available but can't be used to capture by
name``) and FFmpeg's (``[mov,mp4,m4a,3gp,3g2,mj2 @ 0x...] moov atom not found``); decoding a
damaged one prints FFmpeg's per-packet errors. lit_extract already says all of it in its own
lines (``skipped 1 unreadable video(s) ...``, status 2 rows, the lost frame ranges), so these
libraries' lines only bury them in a log. :func:`open_capture` silences both below errors
(OpenCV) and entirely (FFmpeg, which OpenCV reads once, when its first capture opens), unless
the user set ``OPENCV_LOG_LEVEL`` / ``OPENCV_FFMPEG_LOGLEVEL`` themselves.
"""

from __future__ import annotations

import os
from typing import Any

import cv2

FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def quiet_video_libraries() -> None:
    """Silence OpenCV's warnings and FFmpeg's log lines in this process (see the module docstring)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def open_capture(path: str, *args: Any) -> cv2.VideoCapture:
    """``cv2.VideoCapture(path, *args)`` with the video libraries' own log lines silenced."""
    quiet_video_libraries()
    return cv2.VideoCapture(path, *args)
