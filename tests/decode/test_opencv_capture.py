"""A file that is not a video is reported by lit_extract in its own line; OpenCV's and FFmpeg's
own log lines (``[ WARN:0@...] global cap.cpp:...``, ``[mov,mp4,... @ 0x...] moov atom not found``)
do not reach the log. Each case runs in a fresh interpreter: FFmpeg's log level is read once per
process, when its first capture opens."""

from __future__ import annotations

import re
import subprocess
import sys

from lit_extract.commands.demo import barcode_frame, write_video

LIBRARY_LINE = re.compile(r"^\[ ?(WARN|INFO|ERROR)|^\[\w[\w,]* @ 0x|moov atom", re.M)


def test_index_of_a_folder_with_a_broken_video_prints_only_its_own_skip_line(tmp_path):
    folder = tmp_path / "videos"
    write_video(folder / "test" / "Normal" / "good.mp4", (barcode_frame(k, 32, 32, "Normal") for k in range(20)))
    (folder / "test" / "Normal" / "broken.mp4").write_bytes(b"not a video at all")
    result = subprocess.run([sys.executable, "-m", "lit_extract", "index", "--root", str(folder), "--out",
                             str(tmp_path / "index.csv"), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 unreadable video(s)" in result.stderr and "broken.mp4" in result.stderr
    assert not LIBRARY_LINE.search(result.stderr), result.stderr


def test_decoding_a_file_that_is_not_a_video_prints_nothing_and_logs_it_as_lost(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video at all")
    code = ("from lit_extract.decode.video import DecodeLog, iter_frames_opencv\n"
            f"log = DecodeLog()\nframes = list(iter_frames_opencv({str(path)!r}, {{0, 1}}, 1, 16, log=log))\n"
            "print(len(frames), log.lost)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 [[0, 1]]"  # nothing decoded: frames 0-1 lost, in the log
    assert not LIBRARY_LINE.search(result.stderr), result.stderr
