"""Building an index from a folder of videos: ``python -m lit_extract index``.

Find the videos (one of three layouts) -> probe each for n_frames/fps in parallel, leaving out
the unreadable ones (one warning per damaged video kept) -> carve val from train by video -> cut
clips -> write the CSV (absolute paths) and ``<out stem>_skipped.csv``, checked by
:func:`lit_extract.indexing.index.load_index` before it replaces ``out``. The format of the CSV is :mod:`lit_extract.indexing.index`'s.

Frame counts: by default ``n_frames`` is the container header's count, checked by decoding the first
frame. With ``exact_frames`` (or when the header has no count) every frame is decoded once, past
damaged packets, with frame ids from timestamps (:func:`lit_extract.decode.video.iter_frames_pyav`):
``n_frames`` is the last decodable frame's id + 1, and the frames that could not be decoded are
reported. The rule for damaged videos: one is kept when at least half of its frames decode (of
``max(header count, n_frames)``), else it is left out like an unreadable one.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from lit_extract.atomic import atomic_path
from lit_extract.indexing.datasets import DATASETS, dataset_videos, detect_dataset
from lit_extract.indexing.datasets.entry import NORMAL, Video, find_file, label_of  # noqa: F401 (NORMAL: re-exported)
from lit_extract.indexing.datasets.ucf_crime import UCF_SPLIT_LISTS, ucf_crime_videos
from lit_extract.errors import LitExtractError, first_few
from lit_extract.indexing.index import COLUMNS, SPLITS, line_numbers, load_index, resolve_path

if TYPE_CHECKING:
    from lit_extract.decode.video import DecodeLog

LAYOUTS = ("auto", "ucf_crime", "tree", "csv")
SKIPPED_COLUMNS = ("path", "reason")
DAMAGED_COLUMNS = ("path", "header_frames", "n_frames", "decodable", "lost")
READ_TO_THE_END = sys.maxsize  # `last` frame id for the frame readers: decode the whole file

log = logging.getLogger(__name__)


class UnreadableVideoError(LitExtractError):
    """A video that cannot be indexed; the message is the reason written to the sidecar."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known of a video: ``n_frames >= 1`` (what the index uses) and ``fps`` (0.0 when the
    container does not say); ``header_frames``, the container header's frame count (0 when it has
    none); ``lost``, inclusive ``(first, last)`` ranges of frame ids below ``max(n_frames,
    header_frames)`` that could not be decoded (known only when frames were counted by decoding;
    a header that promises more frames than decode loses its tail).
    """

    n_frames: int
    fps: float
    header_frames: int = 0
    lost: tuple[tuple[int, int], ...] = ()

    @property
    def decodable(self) -> int:
        """Frames that decode: every frame of ``max(n_frames, header_frames)`` not in ``lost``."""
        return max(self.n_frames, self.header_frames) - sum(last - first + 1 for first, last in self.lost)

    @property
    def damaged(self) -> bool:
        """True when frames were lost or the header's count is not the number of frames (reported by ``index``)."""
        return bool(self.lost) or 0 < self.header_frames != self.n_frames


@dataclass(frozen=True)
class IndexBuild:
    """The result of :func:`build_index`.

    ``index`` is the written CSV as :func:`load_index` returns it; ``skipped`` has columns
    ``path, reason`` (one row per video left out); ``out`` and ``skipped_csv`` are the files written;
    ``val_from_input`` is True when the input already had a val split (``val_fraction`` was not used);
    ``damaged`` has columns ``DAMAGED_COLUMNS``, one row per video kept whose decodable frames differ
    from its header (``lost``: ranges as ``"147-147, 160-191"``).
    """

    index: pd.DataFrame
    skipped: pd.DataFrame
    out: Path
    skipped_csv: Path
    val_from_input: bool = False
    damaged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DAMAGED_COLUMNS)))
    dataset: str | None = None  # the benchmark indexed (lit_extract.indexing.datasets.DATASETS), None for tree/csv
    dataset_detected: bool = False  # True when it was detected from the folder, not given


def clip_ranges(n_frames: int, clip_len: int, stride: int, keep_tail: bool = False) -> list[tuple[int, int]]:
    """``[start, end)`` of every clip of a video with ``n_frames >= 1`` frames.

    Starts are ``0, stride, 2*stride, ...`` while ``start + clip_len <= n_frames``; a video shorter
    than ``clip_len`` gets the one clip ``(0, n_frames)``. E.g. ``clip_ranges(70, 32, 16) ==
    [(0, 32), (16, 48), (32, 64)]`` (frames 64..69 are in no clip). ``keep_tail`` adds one shorter
    clip from the next start to the end when frames are left after the last clip
    (``clip_ranges(70, 16, 16, keep_tail=True)[-1] == (64, 70)``: ceil(n / 16) snippets, as RTFM's
    ShanghaiTech features have).
    """
    if n_frames < clip_len:
        return [(0, n_frames)]
    ranges = [(start, start + clip_len) for start in range(0, n_frames - clip_len + 1, stride)]
    tail = ranges[-1][0] + stride
    if keep_tail and ranges[-1][1] < n_frames and tail < n_frames:
        ranges.append((tail, n_frames))
    return ranges


def detect_layout(root: Path, split_dir: Path | None = None) -> str:
    """The folder layout ``--layout auto`` picks for ``root``: ``ucf_crime`` if a split-list folder
    is given or ``Anomaly_Train.txt`` / ``Anomaly-Videos-Part-*`` is under ``root``, else ``tree`` if
    ``root`` has a ``train``/``val``/``test`` folder. Raises :class:`LitExtractError` otherwise.
    """
    if split_dir is not None or any(root.glob("Anomaly-Videos-Part-*")) or find_file(root, UCF_SPLIT_LISTS["train"]):
        return "ucf_crime"
    if any((root / split).is_dir() for split in SPLITS):
        return "tree"
    raise LitExtractError(
        f"{root}: cannot tell the layout (no Anomaly_Train.txt, no Anomaly-Videos-Part-*, no "
        f"{'/'.join(SPLITS)} folders); arrange it as <root>/<split>/<category>/*.mp4 or pass --videos-csv"
    )


def tree_videos(root: Path, ext: str = "mp4") -> list[Video]:
    """The videos of a ``<root>/<split>/<category>/*.<ext>`` tree (``split`` in ``SPLITS``).

    Other folders and files elsewhere are ignored. Raises :class:`LitExtractError` when ``root``
    has none of the split folders.
    """
    split_dirs = [(split, root / split) for split in SPLITS if (root / split).is_dir()]
    if not split_dirs:
        raise LitExtractError(f"{root}: no {'/'.join(SPLITS)} folder; arrange videos as <root>/<split>/<category>/*.{ext}")
    videos = []
    for split, split_dir in split_dirs:
        for category_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            for path in sorted([*category_dir.glob(f"*.{ext}"), *image_folders(category_dir)]):
                videos.append(Video(path.resolve(), split, category_dir.name, label_of(category_dir.name)))
    return videos


def image_folders(folder: Path) -> list[Path]:
    """The subfolders of ``folder`` that hold images: videos given as image folders (:mod:`lit_extract.decode.image_folder`)."""
    from lit_extract.decode.image_folder import is_image

    return [d for d in sorted(folder.iterdir()) if d.is_dir() and any(is_image(f.name) for f in d.iterdir())]


def csv_videos(videos_csv: Path) -> list[Video]:
    """The videos listed by a CSV with columns ``path, split, category`` and optionally ``y``.

    Relative paths are read from the CSV's folder; without ``y`` it follows :func:`label_of`.
    Raises :class:`LitExtractError` for a missing/unreadable file or column, an unknown split,
    a non-integer ``y``, a listed video that does not exist, or a video listed twice.
    """
    if not videos_csv.is_file():
        raise LitExtractError(f"{videos_csv}: videos CSV not found; give a CSV with columns path,split,category[,y]")
    try:
        table = pd.read_csv(videos_csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LitExtractError(f"{videos_csv}: not a readable CSV ({str(exc).strip()})") from exc
    missing_columns = [c for c in ("path", "split", "category") if c not in table.columns]
    if missing_columns:
        raise LitExtractError(f"{videos_csv}: missing column(s) {', '.join(missing_columns)}; it needs path,split,category[,y]")
    unknown = sorted(set(table["split"]) - set(SPLITS))
    if unknown:
        raise LitExtractError(f"{videos_csv}: unknown split name(s) {first_few(unknown)}; use {', '.join(SPLITS)}")
    if "y" in table.columns:
        y = pd.to_numeric(table["y"], errors="coerce")
        if (y.isna() | (y != y.round())).any():
            raise LitExtractError(f"{videos_csv}: 'y' must be an integer at line(s) {line_numbers(table, y.isna() | (y != y.round()))}")
    else:
        y = table["category"].map(label_of)
    paths = [resolve_path(videos_csv.parent, p) for p in table["path"]]
    absent = [str(p) for p in paths if not (p.is_file() or p.is_dir())]
    if absent:
        raise LitExtractError(f"{videos_csv}: {len(absent)} listed video(s) not found: {first_few(absent, 3)}; fix those paths")
    repeated = sorted(str(p) for p, count in Counter(paths).items() if count > 1)
    if repeated:
        raise LitExtractError(f"{videos_csv}: video(s) listed more than once: {first_few(repeated, 3)}; keep one line per video")
    return [Video(p, s, c, int(label)) for p, s, c, label in zip(paths, table["split"], table["category"], y)]


def find_videos(
    root: Path | None,
    *,
    layout: str = "auto",
    split_dir: Path | None = None,
    videos_csv: Path | None = None,
    ext: str = "mp4",
    dataset: str | None = None,
    train_list: Path | None = None,
    test_list: Path | None = None,
) -> list[Video]:
    """The videos to index, sorted by split (``SPLITS`` order) then path.

    ``dataset`` (one of :data:`lit_extract.indexing.datasets.DATASETS`) reads that benchmark's layout
    (:func:`lit_extract.indexing.datasets.dataset_videos`). Else ``layout="auto"`` means ``csv`` when
    ``videos_csv`` is given, else :func:`detect_layout`.
    Raises :class:`LitExtractError` for an unknown layout, a missing ``root``/``split_dir``/``videos_csv``,
    or no videos.
    """
    if layout not in LAYOUTS:
        raise LitExtractError(f"unknown --layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    if dataset is not None:
        if root is None or not root.is_dir():
            raise LitExtractError(f"{root}: --root is not a folder; give the folder the {dataset} download was unpacked to")
        layout, videos = dataset, dataset_videos(dataset, root, split_dir=split_dir, train_list=train_list,
                                                 test_list=test_list, ext=ext)
    elif layout == "csv" or (layout == "auto" and videos_csv is not None):
        if videos_csv is None:
            raise LitExtractError("--layout csv needs --videos-csv with columns path,split,category[,y]")
        layout, videos = "csv", csv_videos(videos_csv)
    else:
        if root is None or not root.is_dir():
            raise LitExtractError(f"{root}: --root is not a folder; give the folder that holds the videos")
        if split_dir is not None and not split_dir.is_dir():
            raise LitExtractError(f"{split_dir}: --split-dir is not a folder; give the folder with Anomaly_Train.txt")
        layout = detect_layout(root, split_dir) if layout == "auto" else layout
        videos = ucf_crime_videos(root, split_dir, ext) if layout == "ucf_crime" else tree_videos(root, ext)
    if not videos:
        raise LitExtractError(f"{videos_csv or root}: no *.{ext} videos found (layout {layout}); check --root, --layout and --ext")
    return sorted(videos, key=lambda v: (SPLITS.index(v.split), str(v.path)))


def choose_dataset(
    root: Path | None, *, dataset: str | None, layout: str, split_dir: Path | None, videos_csv: Path | None, ext: str
) -> tuple[str | None, bool]:
    """The benchmark to index and whether it was detected: ``dataset`` as given; ``ucf-crime`` for
    ``--layout ucf_crime``; with ``--layout auto`` (no ``--videos-csv``) the one ``root`` looks like
    (:func:`lit_extract.indexing.datasets.detect_dataset`), else None (a ``tree`` or ``csv`` layout)."""
    if dataset is not None:
        if dataset not in DATASETS:
            raise LitExtractError(f"unknown --dataset '{dataset}'; use one of {', '.join(DATASETS)}")
        return dataset, False
    if layout == "ucf_crime":
        return "ucf-crime", False
    if layout != "auto" or videos_csv is not None or root is None or not root.is_dir():
        return None, False
    if split_dir is not None:
        return "ucf-crime", True
    detected = detect_dataset(root, ext)
    return detected, detected is not None


def probe_video(path: Path, *, exact_frames: bool = False, image_fps: float = 30.0) -> VideoInfo:
    """``n_frames`` and ``fps`` of one video: from the container header (OpenCV), or by decoding.

    With ``exact_frames`` (or when the header has no frame count) every frame is decoded
    (:func:`decode_all_frames`): ``n_frames`` = last decodable frame id + 1, ``lost`` = the frames
    that could not be decoded. Otherwise ``n_frames`` is the header's count and only the first frame
    is decoded, as a check. Raises :class:`UnreadableVideoError` when the file cannot be opened, has
    no decodable frame, or (counted by decoding) fewer than half of its frames decode.
    A folder is an image-folder video (:func:`probe_image_folder`, ``image_fps`` frames per second).
    """
    import cv2  # imported here: loading and validating an index does not need OpenCV

    from lit_extract.decode.opencv_capture import open_capture

    if path.is_dir():
        return probe_image_folder(path, exact_frames=exact_frames, fps=image_fps)
    capture = open_capture(str(path))
    try:
        if not capture.isOpened():
            raise UnreadableVideoError("cannot open (not a video, truncated, or a codec OpenCV lacks)")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        header = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        header = max(int(header), 0) if math.isfinite(header) else 0
        if not exact_frames and header > 0:
            if not capture.grab():
                raise UnreadableVideoError("no decodable frames")
            return VideoInfo(header, fps, header)
    finally:
        capture.release()
    return counted_video_info(decode_all_frames(path), header, fps)


def probe_image_folder(path: Path, *, exact_frames: bool = False, fps: float = 30.0) -> VideoInfo:
    """``n_frames`` of a folder of numbered images: its highest frame id + 1 (images counted, no
    header); numbers missing from the run are lost frames. Only the first image is decoded, as a
    check, unless ``exact_frames`` (every image decoded; one that does not decode is lost). Raises
    :class:`UnreadableVideoError` as :func:`counted_video_info` does, or when the folder has no image."""
    from lit_extract.decode.image_folder import IMAGE_EXTENSIONS, frame_files
    from lit_extract.decode.video import DecodeLog, iter_frames_images  # imported here: video.py loads torch

    files = frame_files(path)
    if not files:
        raise UnreadableVideoError(f"folder without images ({', '.join(IMAGE_EXTENSIONS)}); an image-folder video "
                                   "holds numbered images (000.jpg, 001.jpg, ...)")
    decoded = DecodeLog()
    for _ in iter_frames_images(str(path), set(files) if exact_frames else {min(files)}, max(files), None, log=decoded):
        pass  # the log is the result
    return counted_video_info(decoded, 0, fps)


def decode_all_frames(path: Path) -> DecodeLog:
    """Decode every frame of ``path`` once, in order, past damaged packets, frame ids from timestamps
    (:func:`lit_extract.decode.video.iter_frames_pyav`); the log says which frames decoded and which were
    lost (its last range runs to :data:`READ_TO_THE_END`: the end of the file). Without PyAV, OpenCV's
    ``grab()`` counts frames up to the first one it refuses (no lost ranges known)."""
    from lit_extract.decode.video import DecodeLog, iter_frames_pyav  # imported here: video.py loads torch

    decoded = DecodeLog()
    try:
        for _ in iter_frames_pyav(str(path), set(), READ_TO_THE_END, None, log=decoded, skip_unsampled=False):
            pass  # no frame is wanted: the log is the result
    except LitExtractError:  # no PyAV installed
        from lit_extract.decode.opencv_capture import open_capture

        decoded = DecodeLog()
        capture = open_capture(str(path))
        try:
            while capture.grab():
                decoded.frame(decoded.end)
        finally:
            capture.release()
    return decoded


def counted_video_info(decoded: DecodeLog, header: int, fps: float) -> VideoInfo:
    """The :class:`VideoInfo` of a video whose frames were all decoded (``decoded``), ``header`` its
    header's frame count (0: none). Raises :class:`UnreadableVideoError` when no frame decodes or
    fewer than half of ``max(header, n_frames)`` do (the video is left out)."""
    from lit_extract.decode.video import format_ranges

    if decoded.end == 0:
        raise UnreadableVideoError("no decodable frames")
    frames = max(header, decoded.end)  # the header may promise frames past the last decodable one
    lost = tuple((first, last) for first, last in decoded.lost if last < decoded.end)
    lost += ((decoded.end, frames - 1),) if frames > decoded.end else ()  # the missing tail
    info = VideoInfo(decoded.end, fps, header, lost)
    if 2 * info.decodable < frames:
        raise UnreadableVideoError(
            f"only {info.decodable} of {frames} frames decode (frames {format_ranges(lost)} lost); "
            "a video is indexed when at least half of it decodes"
        )
    return info


def damaged_line(path: Path, info: VideoInfo) -> str:
    """The warning about a damaged video kept in the index: header count, decodable count, lost ranges."""
    from lit_extract.decode.video import format_ranges

    header = f"header says {info.header_frames} frames" if info.header_frames else "header has no frame count"
    lost = f" (frames {format_ranges(info.lost)} lost)" if info.lost else ""
    return f"{path}: {header}, {info.decodable} decode{lost}; indexed with n_frames={info.n_frames}"


def probe_videos(
    paths: list[Path], *, exact_frames: bool = False, workers: int = 4, progress: bool = True, image_fps: float = 30.0
) -> tuple[dict[Path, VideoInfo], dict[Path, str]]:
    """Probe ``paths`` with ``workers`` threads (OpenCV decodes without the GIL), with a progress bar.

    Returns ``(infos, skipped)``: :class:`VideoInfo` of each readable video, and the reason for
    each unreadable one. Every path lands in exactly one of the two.
    """
    from tqdm import tqdm

    infos: dict[Path, VideoInfo] = {}
    skipped: dict[Path, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(probe_video, path, exact_frames=exact_frames, image_fps=image_fps): path for path in paths}
        for future in tqdm(as_completed(futures), total=len(futures), desc="probing videos", unit="video",
                           disable=None if progress else True):  # None: no bar when stderr is not a terminal
            path = futures[future]
            try:
                infos[path] = future.result()
            except UnreadableVideoError as exc:
                skipped[path] = str(exc)
    return infos, skipped


def assign_val(videos: list[Video], *, val_fraction: float, seed: int) -> list[Video]:
    """Move a seeded, per-category share of the train videos to ``val`` (by video, never by clip).

    Unchanged when any video is already in ``val`` (an explicit val split is kept). Otherwise each
    category with ``n`` train videos gives ``min(round_half_up(n * val_fraction), n - 1)`` of them,
    drawn by ``numpy.random.default_rng([seed, crc32(category)])`` from the videos sorted by path,
    so a category's draw depends only on the seed and its own videos. Order is preserved.
    """
    if any(video.split == "val" for video in videos):
        return list(videos)
    to_val: set[Path] = set()
    for category in sorted({v.category for v in videos if v.split == "train"}):
        members = sorted((v.path for v in videos if v.split == "train" and v.category == category), key=str)
        n_val = min(math.floor(len(members) * val_fraction + 0.5), len(members) - 1)
        rng = np.random.default_rng([seed, zlib.crc32(category.encode("utf-8"))])
        to_val.update(members[i] for i in rng.permutation(len(members))[:n_val])
    return [replace(v, split="val") if v.path in to_val else v for v in videos]


def clip_table(
    videos: list[Video], infos: dict[Path, VideoInfo], *, clip_len: int, stride: int, keep_tail: bool = False
) -> pd.DataFrame:
    """One row per clip (columns ``COLUMNS``), videos sorted by split then path, clips by start.

    ``path`` is the absolute video path; ``clip_idx`` counts clips within their video from 0.
    """
    rows = []
    for video in sorted(videos, key=lambda v: (SPLITS.index(v.split), str(v.path))):
        info = infos[video.path]
        for clip_idx, (start, end) in enumerate(clip_ranges(info.n_frames, clip_len, stride, keep_tail)):
            rows.append((video.split, video.y, video.category, str(video.path), clip_idx, start, end,
                         clip_len, stride, info.fps, info.n_frames))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def skipped_csv_path(out: Path) -> Path:
    """The sidecar listing the videos left out: ``<out folder>/<out stem>_skipped.csv``."""
    return out.with_name(f"{out.stem}_skipped.csv")


def _check_out_writable(out: Path) -> None:
    """Create ``out``'s folder if needed; raise :class:`LitExtractError` if files cannot be written there."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LitExtractError(f"{out.parent}: cannot create the output folder ({exc.strerror}); choose another --out") from exc
    if out.is_dir() or not os.access(out.parent, os.W_OK):
        raise LitExtractError(f"{out}: cannot write the index there; choose another --out")


def build_index(
    *,
    out: str,
    root: str | None = None,
    clip_len: int = 32,
    stride: int = 16,
    val_fraction: float = 0.15,
    seed: int = 0,
    split_dir: str | None = None,
    layout: Literal["auto", "ucf_crime", "tree", "csv"] = "auto",
    videos_csv: str | None = None,
    exact_frames: bool = False,
    workers: int = 4,
    ext: str = "mp4",
    progress: bool = True,
    image_fps: float = 30.0,
    dataset: Literal["ucf-crime", "xd-violence", "shanghaitech"] | None = None,
    train_list: str | None = None,
    test_list: str | None = None,
    keep_tail: bool | None = None,
) -> IndexBuild:
    """Build ``index_clips.csv`` from a folder of videos.

    Layouts: ``ucf_crime`` (UCF-Crime as distributed, split by Anomaly_Train.txt/Anomaly_Test.txt),
    ``tree`` (<root>/<split>/<category>/*.<ext>), ``csv`` (--videos-csv with path,split,category[,y]).
    Category ``Normal`` is y=0, every other category y=1. ``val`` is drawn from ``train`` by video,
    per category, unless the input already has a val split. Paths in the CSV are absolute.
    Unreadable videos are left out and listed in ``<out stem>_skipped.csv`` (always written).
    With ``exact_frames``, a damaged video is kept when at least half of its frames decode (its
    ``n_frames`` is then its last decodable frame + 1), with one warning naming its header count,
    decodable count and lost frame ranges; below half it is left out like an unreadable one.

    Args:
        out: index CSV to write (its folder is created).
        root: folder that holds the videos (not needed with --videos-csv).
        clip_len: frames per clip.
        stride: frames between clip starts.
        val_fraction: share of each category's train videos moved to val (0 <= f < 1).
        seed: seed of the val draw.
        split_dir: folder with Anomaly_Train.txt / Anomaly_Test.txt (default: searched under root).
        layout: how videos are arranged; auto detects it.
        videos_csv: CSV listing the videos (columns path,split,category[,y]).
        exact_frames: count frames by decoding them all, past damaged packets, for containers whose
            header lies (slow); videos whose decodable frames differ from the header are reported.
        workers: videos probed in parallel.
        ext: video file extension to look for.
        progress: show a progress bar while probing.
        image_fps: frames per second of videos given as folders of numbered images (000.jpg, ...).
        dataset: the benchmark whose download root holds (ucf-crime, xd-violence, shanghaitech);
            detected from the folder when not given (and --layout is auto).
        train_list: ShanghaiTech's SH_Train.txt (default: searched under root).
        test_list: ShanghaiTech's SH_Test.txt (default: searched under root).
        keep_tail: also cut a last, shorter clip over the frames after the last full one (default:
            on for shanghaitech, whose published features keep that partial snippet, else off).
    """
    _check_build_arguments(clip_len=clip_len, stride=stride, val_fraction=val_fraction, workers=workers)
    out_path = Path(out).expanduser()
    root_path = Path(root).expanduser() if root else None
    split_path = Path(split_dir).expanduser() if split_dir else None
    csv_path = Path(videos_csv).expanduser() if videos_csv else None
    dataset, detected = choose_dataset(root_path, dataset=dataset, layout=layout, split_dir=split_path,
                                       videos_csv=csv_path, ext=ext)
    if (train_list or test_list) and dataset != "shanghaitech":
        raise LitExtractError("--train-list/--test-list are ShanghaiTech's split lists: add --dataset shanghaitech")
    videos = find_videos(
        root_path,
        layout=layout,
        split_dir=split_path,
        videos_csv=csv_path,
        ext=ext,
        dataset=dataset,
        train_list=Path(train_list).expanduser() if train_list else None,
        test_list=Path(test_list).expanduser() if test_list else None,
    )
    _check_out_writable(out_path)  # before the slow part: probing every video
    infos, skipped = probe_videos([v.path for v in videos], exact_frames=exact_frames, workers=workers, progress=progress,
                                  image_fps=image_fps)
    skipped_table = pd.DataFrame(sorted((str(p), reason) for p, reason in skipped.items()), columns=list(SKIPPED_COLUMNS))
    sidecar = skipped_csv_path(out_path)
    with atomic_path(sidecar) as tmp:
        skipped_table.to_csv(tmp, index=False)
    readable = [v for v in videos if v.path in infos]
    damaged = [(video.path, infos[video.path]) for video in readable if infos[video.path].damaged]
    for path, info in damaged:  # in index order, after the progress bar
        log.warning(damaged_line(path, info))
    damaged_table = pd.DataFrame(
        [(str(p), i.header_frames, i.n_frames, i.decodable, ", ".join(f"{a}-{b}" for a, b in i.lost)) for p, i in damaged],
        columns=list(DAMAGED_COLUMNS),
    )
    if not readable:
        raise LitExtractError(f"{sidecar}: none of the {len(videos)} videos could be read (reasons listed there); check the files")
    val_from_input = any(video.split == "val" for video in readable)
    readable = assign_val(readable, val_fraction=val_fraction, seed=seed)
    index = _write_checked(clip_table(readable, infos, clip_len=clip_len, stride=stride,
                                           keep_tail=dataset == "shanghaitech" if keep_tail is None else keep_tail), out_path)
    return IndexBuild(index=index, skipped=skipped_table, out=out_path, skipped_csv=sidecar,
                      val_from_input=val_from_input, damaged=damaged_table, dataset=dataset, dataset_detected=detected)


def _check_build_arguments(*, clip_len: int, stride: int, val_fraction: float, workers: int) -> None:
    """Raise :class:`LitExtractError` naming the first out-of-range build argument."""
    if clip_len < 1:
        raise LitExtractError(f"--clip-len must be >= 1, got {clip_len}")
    if stride < 1:
        raise LitExtractError(f"--stride must be >= 1, got {stride}")
    if not 0 <= val_fraction < 1:
        raise LitExtractError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if workers < 1:
        raise LitExtractError(f"--workers must be >= 1, got {workers}")


def _write_checked(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Write ``table`` to ``out`` only if :func:`load_index` accepts it (temp file, check, rename)."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        table.to_csv(tmp, index=False)
        index = load_index(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return index
