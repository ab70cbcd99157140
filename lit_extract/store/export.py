"""Per-video feature files for weakly-supervised anomaly detection (RTFM, MGFN, UR-DMU, VadCLIP, XDVioDet, Sultani).

``python -m lit_extract export --manifest processed/manifest_{encoder}.json --format rtfm --out features/
[--annotations Temporal_Anomaly_Annotation_for_Testing_Videos.txt]`` turns a finished extraction
into what those projects' loaders read (github.com/tianyu0207/RTFM ``dataset.py``,
``test_10crop.py``, ``list/ucf-i3d.list``, ``list/make_gt_ucf.py``; carolchenyx/MGFN
``datasets/dataset.py``; WaqasSultani/AnomalyDetectionCVPR2018 ``Save_C3DFeatures_32Segments.m``):

- ``{video stem}_{encoder}.npy`` per video (their ``Abuse001_x264_i3d.npy``), ``np.load``-able,
  float32. ``rtfm``: ``(snippets, crops, D)``, the video's rows in index order (crops = 10 for a
  ``--data.crops 10`` run, else 1); the loaders transpose it to ``(crops, snippets, D)``.
  ``segments32``: ``(32, D)``, the crop-averaged snippets pooled into 32 segments and
  L2-normalized exactly as ``Save_C3DFeatures_32Segments.m`` does (:func:`sultani_segments`).
- ``train.list`` / ``test.list``: one absolute path per line; anomalous videos (y = 1) first, then
  normal ones, each group sorted by file name (the order of RTFM's lists, whose loaders take the
  first 810 lines of the UCF-Crime train list as anomalous and the rest as normal). **val videos go
  back into train.list** (UCF-Crime's 1,610 train videos = lit_extract's train + val).
- ``gt-ucf.npy`` (with ``--annotations``): float64 0/1 frame labels of the test videos
  concatenated in ``test.list`` order, ``snippets x snippet length`` frames per video (the frames
  the snippets cover; the loaders repeat each snippet score 16 times), from the annotation file's
  1-based inclusive ranges (:func:`lit_extract.indexing.frame_truth.frame_labels`).

- ``per-crop`` (UR-DMU, VadCLIP, MGFN on XD-Violence, XDVioDet): one float32 ``(snippets, D)``
  file per crop, ``{video stem}__{k}.npy`` (k = 0 .. crops - 1, the published XD-Violence
  features' names); ``train.list`` / ``test.list`` hold one line per crop file, each video's crops
  together (k ascending), anomalous videos first, so the split point the loaders hard-code is
  anomalous videos x crops (UR-DMU: ``[:9525]`` = 1,905 x 5 on XD-Violence, ``[:8100]`` = 810 x 10 on
  UCF-Crime). ``train.csv`` / ``test.csv`` are VadCLIP's lists (``path,label``: the label is the
  category, XD-Violence's the code in the file name, ``A`` for normal): train every crop file,
  test one crop file per video, the one VadCLIP evaluates (``__5`` for ten-crop UCF-Crime, else ``__0``).
- The ground truth (with ``--annotations``) is named and built as each benchmark's methods do
  (:mod:`lit_extract.evaluate.metrics` reads the truth): ``gt-ucf.npy`` (above); ``gt-sh.npy`` (ShanghaiTech,
  ``--annotations testing/test_frame_mask``: each test video's mask over its snippets x 16 frames,
  a shorter mask padded with its last label, as RTFM's ``list/make_gt_sh.py``; float64);
  ``gt_xd.npy`` (XD-Violence, ``--annotations annotations.txt``: 0-based end-exclusive ranges over
  snippets x 16 frames, as VadCLIP's ``list/make_gt_xd.py``; float32). Always in ``test.list`` order.
- ``gt_segment.npy`` / ``gt_label.npy`` (per-crop, with class annotations): VadCLIP's detection-mAP
  truth (:mod:`lit_extract.store.segment_truth`). A ten-crop test CSV in another crop order than
  VadCLIP's (``centre_first``) gets a warning saying which box its ``__5`` / ``__0`` is.
- ``--names METHOD``: the lists and the ground truth under the paths that method's code reads, the
  feature files in ``out/features/`` (:mod:`lit_extract.store.method_paths`).
- An audio encoder's manifest (``vggish``; ``--format per-crop`` only): one float32
  ``(snippets, D)`` file per video, ``{video stem}__{encoder}.npy`` (XD-Violence's
  ``..._label_A__vggish.npy``), and XDVioDet's lists ``audio.list`` / ``audio_test.list``
  (``--names xdviodet``: ``list/audio.list``, ``list/audio_test.list``): one line per video, in
  the order of the RGB lists (the same rule: anomalous first, by file name), so
  ``audio_list[index // crops]`` is the video of line ``index`` of a per-crop RGB list. Only those
  files (and the ground truth, with ``--annotations``) are replaced: an RGB export into the same
  folder keeps its lists, and an RGB export never touches the audio lists.

:func:`summary` also prints each number the methods reading the format hard-code (split points,
feature size, crops; :mod:`lit_extract.store.method_constants`) against this export's.

Those methods assume back-to-back snippets: each video's clips must start at frame 0, be
``clip_len`` frames long, follow each other without gap or overlap (stride = clip length) and
cover every full snippet of the video, the last shorter snippet included or not
(``python -m lit_extract index --clip-len 16 --stride 16`` makes such an index; ``--keep-tail``, the
default for ShanghaiTech, adds that last snippet). Anything else, rows not done, or a test video without an annotation line is
refused before anything is written. Files are written atomically (temp file + rename, with the
umask's mode: :mod:`lit_extract.atomic`), the lists last: an export that stopped half-way has no lists.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lit_extract.atomic import save_npy_atomic, write_text_atomic
from lit_extract.errors import LitExtractError, first_few
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.index import split_rows
from lit_extract.store.manifest import load_run_index, open_split, read_manifest
from lit_extract.indexing.datasets.xd_violence import LABEL_MARK
from lit_extract.decode.crops import CROP_ORDERS, default_order
from lit_extract.indexing.frame_truth import read_frame_truth
from lit_extract.store.method_constants import DATASET_NAMES, constant_lines
from lit_extract.store.method_paths import (
    FEATURES_FOLDER, METHOD_FORMATS, METHOD_NAMES, METHOD_OF_NAME, MethodPaths, method_paths,
)
from lit_extract.store.segment_truth import read_class_annotations, segment_truth

Format = Literal["rtfm", "segments32", "per-crop"]
FORMATS = ("rtfm", "segments32", "per-crop")
SEGMENTS = 32
LOADER_SNIPPET_FRAMES = 16  # RTFM, MGFN and UR-DMU repeat each snippet score 16 times
TRAIN_LIST, TEST_LIST, GROUND_TRUTH = "train.list", "test.list", "gt-ucf.npy"
LIST_OF_SPLIT = {"train": TRAIN_LIST, "val": TRAIN_LIST, "test": TEST_LIST}
GROUND_TRUTHS = {"ucf-crime": (GROUND_TRUTH, np.float64), "shanghaitech": ("gt-sh.npy", np.float64),
                 "xd-violence": ("gt_xd.npy", np.float32)}  # file name, dtype: as each family's make_gt script
CSV_OF_LIST = {TRAIN_LIST: "train.csv", TEST_LIST: "test.csv"}  # VadCLIP's lists (per-crop)
AUDIO_LIST_OF = {TRAIN_LIST: "audio.list", TEST_LIST: "audio_test.list"}  # XDVioDet's audio lists
FLOW_LISTS = ("flow.list", "flow_test.list")  # XDVioDet's flow lists (lit_extract.store.flow_export)
UCF_TEST_CROP = 5  # VadCLIP evaluates UCF-Crime's crop __5 (of ten), the other datasets' __0
VADCLIP_CROP_ORDER = "centre_first"  # VadCLIP's (and DeepMIL's) ten-crop files: __0 the centre
SEGMENT_TRUTH = ("gt_segment.npy", "gt_label.npy")  # VadCLIP's --gt-segment-path, --gt-label-path defaults
SHANGHAITECH_NAME = re.compile(r"\d{2}_\d{3,4}")  # 01_001 (training video), 01_0014 (test frame folder)


@dataclass(frozen=True)
class Video:
    """One exported video: its index ``path``, ``split``, label ``y`` (max of its clips') and the
    positions of its ``rows`` (snippets, in index order) in the split's files."""

    path: str
    split: str
    y: int
    rows: np.ndarray
    category: str = ""

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    @property
    def label(self) -> str:
        """VadCLIP's ``label`` column: XD-Violence's code from the file name (``B2-0-0``, ``A``), else the category."""
        return self.stem.rsplit(LABEL_MARK, 1)[1] if LABEL_MARK in self.stem else self.category


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_features` wrote: ``lists`` (list name -> videos in line order),
    ``feature_shape`` of one video file with ``n`` snippets as a string, the ground truth file (or
    None), its length, the snippet length, and the annotation lines ignored (videos not in test)."""

    out: Path
    lists: dict[str, list[Video]]
    feature_shape: str
    ground_truth: Path | None
    ground_truth_frames: int
    snippet_frames: int
    ignored_annotations: int
    crops: int = 1
    format: str = "rtfm"
    test_crop: int = 0
    paths: dict[str, Path] = field(default_factory=dict)  # role (train.list, test.csv, gt, gt_segment, ...) -> file
    features: Path | None = None  # the feature files' folder
    dataset: str | None = None
    dim: int = 0
    names: str | None = None  # --names
    warnings: tuple[str, ...] = ()  # warning: and note: lines for the summary
    audio: bool = False  # an audio encoder's export: one file per video, XDVioDet's audio lists


def sultani_segments(snippets: np.ndarray, segments: int = SEGMENTS) -> np.ndarray:
    """(n, D) snippet features -> (segments, D) float32, as ``Save_C3DFeatures_32Segments.m``.

    Segment boundaries are MATLAB's ``round(linspace(1, n, 33))`` (1-based, rounded half away
    from zero); segment ``i`` is the mean of snippets ``b[i] .. b[i+1]-1`` (1-based), or snippet
    ``b[i]`` alone when that range is empty (fewer than 32 snippets). So the last snippet is used
    only when it is a segment on its own, as in the original. Each segment is divided by its L2
    norm (a zero segment stays zero).
    """
    n = len(snippets)
    bounds = np.floor(np.linspace(1, n, segments + 1) + 0.5).astype(np.int64) - 1  # 0-based
    pooled = np.empty((segments, snippets.shape[1]), dtype=np.float64)
    for i in range(segments):
        start, stop = bounds[i], bounds[i + 1]
        pooled[i] = snippets[start:stop].mean(axis=0) if stop > start else snippets[start]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def snippet_videos(rows: pd.DataFrame, split: str, index_path: str) -> tuple[list[Video], int]:
    """``split``'s videos as back-to-back snippets, and the snippet length.

    Raises :class:`LitExtractError` naming the first video whose clips are not fixed-length,
    contiguous, non-overlapping snippets from frame 0 covering all of its full snippets.
    """
    fix = ("export needs back-to-back fixed-length snippets: build the index with "
           f"`python -m lit_extract index --clip-len 16 --stride 16` and extract again")
    lengths = rows["end_frame"] - rows["start_frame"]
    snippet = int(lengths.max())
    videos = []
    for path, clips in rows.groupby("path", sort=False):
        where = f"{index_path}: {split} video {path}"
        starts, ends = clips["start_frame"].to_numpy(), clips["end_frame"].to_numpy()
        n_frames = int(clips["n_frames"].iloc[0])
        tail = len(ends) > 0 and ends[-1] == n_frames and n_frames % snippet and ends[-1] - starts[-1] == n_frames % snippet
        body = slice(0, len(starts) - 1) if tail else slice(None)  # a last, shorter snippet ending the video is kept
        if (ends[body] - starts[body] != snippet).any():
            raise LitExtractError(f"{where} has clips of {first_few(sorted(set((ends - starts).tolist())))} "
                                  f"frames, others {snippet}; {fix}")
        if (starts[1:] < ends[:-1]).any():
            k = int(np.flatnonzero(starts[1:] < ends[:-1])[0])
            raise LitExtractError(f"{where} has overlapping clips ([{starts[k]}, {ends[k]}) and "
                                  f"[{starts[k + 1]}, {ends[k + 1]})); {fix}")
        expected = np.arange(len(starts)) * snippet
        full = n_frames // snippet + bool(tail)
        if (starts != expected).any() or len(starts) != full:
            raise LitExtractError(
                f"{where} is incomplete: its {len(starts)} clip(s) are not the {full} back-to-back snippets "
                f"[0, {snippet}), [{snippet}, {2 * snippet}), ... of its {int(clips['n_frames'].iloc[0])} frames "
                f"(missing or reordered rows); {fix}"
            )
        videos.append(Video(str(path), split, int(clips["y"].max()), clips.index.to_numpy(np.int64),
                            str(clips["category"].iloc[0])))
    return videos, snippet


def list_order(videos: Iterable[Video]) -> list[Video]:
    """Anomalous videos (y = 1) first, then normal ones; each group sorted by file name."""
    return sorted(videos, key=lambda video: (video.y == 0, video.stem))


@dataclass(frozen=True)
class RunVideos:
    """A finished run read for export: its manifest ``run``, each split's videos and embeddings
    (memmaps of the run's files), and the snippet length."""

    run: dict
    videos: dict[str, list[Video]]
    embeddings: dict[str, np.ndarray]
    snippet: int

    @property
    def crops(self) -> int:
        return int(self.run.get("crops", 1))

    @property
    def dim(self) -> int:
        return int(self.run["embedding_dim"])

    @property
    def stems(self) -> list[str]:
        return [video.stem for split_videos in self.videos.values() for video in split_videos]


def read_run(manifest_path: Path) -> RunVideos:
    """The run of ``manifest_path`` as back-to-back snippet videos; raises :class:`LitExtractError`
    when its embeddings do not match the index, rows are not done, snippets differ between splits
    or two videos share a file name."""
    run = read_manifest(manifest_path)
    index = load_run_index(manifest_path, run)
    index_path = run["index"]["path"]
    crops, dim = int(run.get("crops", 1)), int(run["embedding_dim"])
    videos: dict[str, list[Video]] = {}
    embeddings: dict[str, np.ndarray] = {}
    snippet_lengths = set()
    for split in (split for split in ("train", "val", "test") if split in run["splits"]):
        rows = split_rows(index, split)
        arrays = open_split(manifest_path, split, run)
        expected = (len(rows), dim) if crops == 1 else (len(rows), crops, dim)
        if arrays.embeddings.shape != expected:
            raise LitExtractError(f"{manifest_path}: {split} embeddings are {arrays.embeddings.shape}, the index and "
                                  f"manifest say {expected}; rerun predict into a fresh folder")
        not_done = np.flatnonzero(np.asarray(arrays.done) == 0)
        if not_done.size:
            raise LitExtractError(f"{manifest_path}: {split} has {not_done.size} row(s) not done (e.g. rows "
                                  f"{first_few(not_done.tolist())}); rerun the same predict command to finish them")
        videos[split], snippet = snippet_videos(rows, split, index_path)
        snippet_lengths.add(snippet)
        embeddings[split] = arrays.embeddings
    if len(snippet_lengths) > 1:
        raise LitExtractError(f"{index_path}: snippets of {sorted(snippet_lengths)} frames in different splits; "
                              "export needs one snippet length")
    result = RunVideos(run, videos, embeddings, snippet_lengths.pop())
    twice = sorted(stem for stem, count in Counter(result.stems).items() if count > 1)
    if twice:
        raise LitExtractError(f"{index_path}: video file names {first_few(twice, 3)} occur more than once; "
                              f"their {{stem}}_{file_stem(run['encoder'])}.npy files would collide")
    return result


def frame_ground_truth(source: RunVideos, annotations: str | Path, dataset: str | None,
                       manifest_path: Path) -> tuple[np.ndarray, int, str]:
    """``(labels, annotation lines ignored, dataset)``: the test videos' frame labels in test-list
    order (snippets x snippet length each, the dtype of the dataset's ``make_gt`` script), from the
    truth at ``annotations``; raises :class:`LitExtractError` for a test video without truth."""
    if "test" not in source.videos:
        raise LitExtractError(f"{manifest_path}: no test split to label; drop --annotations or extract the test split")
    truth = read_frame_truth(annotations, dataset)
    test = source.videos["test"]
    truth.check({video.stem: video.y for video in test})
    ignored = len(set(truth.ranges) - {video.stem for video in test})  # ShanghaiTech's masks cover train too: no note
    labels = np.concatenate([truth.labels(video.stem, len(video.rows) * source.snippet) for video in list_order(test)])
    return labels.astype(GROUND_TRUTHS[truth.dataset][1]), ignored, truth.dataset


def export_features(
    manifest: str | Path,
    format: Format | None = None,
    out: str | Path = "features",
    annotations: str | Path | None = None,
    dataset: str | None = None,
    names: str | None = None,
    class_annotations: str | Path | None = None,
) -> ExportResult:
    """Write the per-video (or per-crop) files, the lists and the ground truth (see the module doc).

    ``format`` defaults to ``names``' method's format, else ``rtfm``. ``dataset`` (ucf-crime,
    xd-violence, shanghaitech) says whose truth ``annotations`` is; by default the one it looks like
    (:func:`lit_extract.indexing.frame_truth.truth_dataset`), else the one the video names are
    (:func:`dataset_of_names`). ``names`` (:data:`~lit_extract.store.method_paths.METHOD_NAMES`)
    writes the lists and ground truth where that method reads them, the features under
    ``out/features/`` (:mod:`lit_extract.store.method_paths`). ``class_annotations`` (XD-Violence's
    ``annotations_multiclasses.txt``; UCF-Crime's ``--annotations`` has the class column already)
    adds VadCLIP's ``gt_segment.npy`` / ``gt_label.npy`` (:mod:`lit_extract.store.segment_truth`).
    Everything is checked before the first file is written; raises :class:`LitExtractError`.
    """
    manifest_path, out = Path(manifest), Path(out).expanduser()
    format = export_format(format, names)
    source = read_run(manifest_path)
    crops, dim, encoder = source.crops, source.dim, source.run["encoder"]
    if source.run.get("kind") == "flow":  # lit_extract.store.flow_export: rows without a next frame left out
        raise LitExtractError(f"{manifest_path}: {encoder} is a flow encoder; export it with "
                              "lit_extract.store.flow_export (the export command does: --format per-crop)")
    audio = source.run.get("kind") == "audio"
    if audio and (format != "per-crop" or names not in (None, "xdviodet")):
        raise LitExtractError(f"{manifest_path}: {encoder} is an audio encoder; export it with --format per-crop "
                              "(one (snippets, D) file per video and XDVioDet's audio.list / audio_test.list; "
                              "--names xdviodet or none)")
    ground_truth, ignored = None, 0
    if annotations is not None:
        ground_truth, ignored, dataset = frame_ground_truth(source, annotations, dataset, manifest_path)
    dataset = dataset or dataset_of_names(source.stems)
    test_crop = UCF_TEST_CROP if dataset == "ucf-crime" and crops > UCF_TEST_CROP else 0
    method = method_paths(names, dataset) if names else None
    targets = audio_paths(out, dataset, method) if audio else output_paths(out, format, dataset, method)
    warnings = crop_order_warnings(source.run, crops, test_crop, targets, dataset, refuse=names == "vadclip")
    segments = None
    if "gt_segment" in targets and (class_annotations is not None or (dataset == "ucf-crime" and annotations)):
        segments = vadclip_segments(source.videos, class_annotations or annotations, dataset, manifest_path)
    elif class_annotations is not None:
        raise LitExtractError(f"--class_annotations {class_annotations}: gt_segment.npy and gt_label.npy are "
                              "VadCLIP's; use --format per-crop (and --names vadclip or no --names)")
    elif "gt_segment" in targets and dataset == "xd-violence" and annotations is not None:
        warnings.append("note: no gt_segment.npy / gt_label.npy (VadCLIP's detection mAP truth): give "
                        "--class_annotations annotations_multiclasses.txt (VadCLIP's list/)")

    lists: dict[str, list[Video]] = {}
    for split, split_videos in source.videos.items():
        lists.setdefault(LIST_OF_SPLIT[split], []).extend(split_videos)
    lists = {name: list_order(members) for name, members in lists.items()}
    if audio:
        lists = {AUDIO_LIST_OF[name]: members for name, members in lists.items()}
    features = out / FEATURES_FOLDER if method else out
    for folder in dict.fromkeys([out, features, *(path.parent for path in targets.values())]):
        make_folder(folder)
    for path in (targets.values() if audio else stale_paths(out, targets, method)):  # stale lists must not point at a half-done export
        path.unlink(missing_ok=True)
    write_features(source, features, format)
    written = {}
    for role, array in (("gt", ground_truth), *zip(("gt_segment", "gt_label"), segments or ())):
        if array is not None and role in targets:
            save_npy_atomic(targets[role], array)
            written[role] = targets[role]
    for name, members in lists.items():
        if audio:
            write_text_atomic(targets[name], "".join(f"{(features / audio_name(v, encoder)).resolve()}\n" for v in members))
            written[name] = targets[name]
            continue
        written.update(write_lists(targets, name, members, features, encoder, format, crops, test_crop))
    shape = {"rtfm": f"(snippets, {crops}, {dim})", "segments32": f"({SEGMENTS}, {dim})",
             "per-crop": f"(snippets, {dim})"}
    return ExportResult(
        out=out, lists=lists, feature_shape=shape[format], ground_truth=written.get("gt"),
        ground_truth_frames=0 if ground_truth is None else len(ground_truth),
        snippet_frames=source.snippet, ignored_annotations=ignored, crops=crops, format=format, test_crop=test_crop,
        paths=written, features=features, dataset=dataset, dim=dim, names=names, warnings=tuple(warnings),
        audio=audio,
    )


def write_features(source: RunVideos, features: Path, format: str) -> None:
    """Each video's file(s) in ``features``: per-crop one ``(snippets, D)`` file per crop, else one
    ``(snippets, crops, D)`` (rtfm) or ``(32, D)`` (segments32) file per video; float32."""
    crops, dim, encoder = source.crops, source.dim, source.run["encoder"]
    for split, split_videos in source.videos.items():
        for video in split_videos:
            rows = np.asarray(source.embeddings[split][video.rows], dtype=np.float32)  # snippets D | snippets crops D
            rows = rows.reshape(len(video.rows), crops, dim)  # snippets crops D
            if source.run.get("kind") == "audio":  # sound has no crops: one file per video
                save_npy_atomic(features / audio_name(video, encoder), np.ascontiguousarray(rows[:, 0]))  # snippets D
                continue
            if format == "per-crop":
                for k in range(crops):
                    save_npy_atomic(features / crop_name(video, k), np.ascontiguousarray(rows[:, k]))  # snippets D
                continue
            if format == "segments32":
                rows = sultani_segments(rows.mean(axis=1))  # 32 D
            save_npy_atomic(features / feature_name(video, encoder), rows)


def export_format(format: str | None, names: str | None) -> str:
    """The format to write: ``format``, else the one ``names``' method reads, else ``rtfm``; refused
    when unknown or not the one ``names``' method reads."""
    if format is not None and format not in FORMATS:
        raise LitExtractError(f"--format {format}: choose {', '.join(FORMATS)}")
    if names is None:
        return format or "rtfm"
    if names not in METHOD_NAMES:
        raise LitExtractError(f"--names {names}: choose {', '.join(METHOD_NAMES)}")
    wanted = METHOD_FORMATS[names]
    if format not in (None, wanted):
        raise LitExtractError(f"--names {names} reads --format {wanted} files, not {format}: "
                              f"drop --format or use {wanted}")
    return wanted


def dataset_of_names(stems: list[str]) -> str | None:
    """The benchmark every video name is from, or None: XD-Violence's ``..._label_<code>``,
    UCF-Crime's ``..._x264``, ShanghaiTech's ``01_001`` / ``01_0014``."""
    for dataset, matches in (("xd-violence", lambda stem: LABEL_MARK in stem),
                             ("ucf-crime", lambda stem: stem.endswith("_x264")),
                             ("shanghaitech", lambda stem: SHANGHAITECH_NAME.fullmatch(stem) is not None)):
        if stems and all(matches(stem) for stem in stems):
            return dataset
    return None


def output_paths(out: Path, format: str, dataset: str | None, method: MethodPaths | None) -> dict[str, Path]:
    """Where each file goes (role -> path): ``method``'s paths under ``out``, else the default
    names in ``out`` (``train.list``, ``test.list``, the dataset's ground truth; per-crop also
    VadCLIP's ``train.csv``, ``test.csv``, ``gt_segment.npy``, ``gt_label.npy``)."""
    if method is not None:  # the method's audio and flow lists are an audio or a flow export's
        return {role: out / path for role, (path, _) in method.files.items()
                if role not in (*AUDIO_LIST_OF.values(), *FLOW_LISTS)}
    targets = {TRAIN_LIST: out / TRAIN_LIST, TEST_LIST: out / TEST_LIST,
               "gt": out / GROUND_TRUTHS.get(dataset or "ucf-crime", GROUND_TRUTHS["ucf-crime"])[0]}
    if format == "per-crop":
        targets |= {csv: out / csv for csv in CSV_OF_LIST.values()}
        targets |= {"gt_segment": out / SEGMENT_TRUTH[0], "gt_label": out / SEGMENT_TRUTH[1]}
    return targets


def audio_paths(out: Path, dataset: str | None, method: MethodPaths | None) -> dict[str, Path]:
    """Where an audio export's lists (and ground truth) go: XDVioDet's ``audio.list`` /
    ``audio_test.list`` in ``out``, or where ``method`` (XDVioDet) reads them."""
    if method is not None:
        return {role: out / path for role, (path, _) in method.files.items() if role in (*AUDIO_LIST_OF.values(), "gt")}
    return {name: out / name for name in AUDIO_LIST_OF.values()} | {
        "gt": out / GROUND_TRUTHS.get(dataset or "ucf-crime", GROUND_TRUTHS["ucf-crime"])[0]}


def stale_paths(out: Path, targets: dict[str, Path], method: MethodPaths | None) -> list[Path]:
    """The files an earlier export may have left that this one replaces: its own targets, and
    without ``--names`` every default list, CSV and ground truth name."""
    if method is not None:
        return list(targets.values())
    names = (TRAIN_LIST, TEST_LIST, *CSV_OF_LIST.values(), *(name for name, _ in GROUND_TRUTHS.values()),
             *SEGMENT_TRUTH)
    return [out / name for name in names]


def crop_order_warnings(run: dict, crops: int, test_crop: int, targets: dict[str, Path], dataset: str | None,
                        refuse: bool) -> list[str]:
    """A warning when the test CSV's crop (of ``run``'s ``crop_order``) is not the view VadCLIP
    evaluates: VadCLIP's files put the centre first (``__0`` the centre, ``__5`` the mirrored
    centre); in another order crop ``__k`` is another box. Raised as :class:`LitExtractError` when
    ``refuse`` (``--names vadclip``). Nothing when no test CSV is written or the run has one crop."""
    test_csv = targets.get(CSV_OF_LIST[TEST_LIST])
    if test_csv is None or crops == 1 or dataset not in ("ucf-crime", "xd-violence"):
        return []
    order = run.get("crop_order") or default_order(crops)
    if order == VADCLIP_CROP_ORDER:
        return []
    message = (f"{test_csv.name} names crop __{test_crop} of each video, the crop VadCLIP's "
               f"{DATASET_NAMES[dataset]} test evaluates: in VadCLIP's files ({VADCLIP_CROP_ORDER} order) the "
               f"{crop_view(VADCLIP_CROP_ORDER, test_crop)}, "
               f"in this run's {order} order the {crop_view(order, test_crop)}; for VadCLIP extract with "
               f"--data.crop_order {VADCLIP_CROP_ORDER} (configs/clip_vitb16.yaml)")
    if refuse:
        raise LitExtractError(message)
    return [f"warning: {message}"]


def crop_view(order: str, k: int) -> str:
    """What crop ``k`` of ``order`` is: ``centre``, ``top-left corner``, ..., ``of the mirrored frame`` from k = 5."""
    box = CROP_ORDERS[order][k % 5].replace("_", "-")
    view = "centre" if box == "centre" else f"{box} corner"
    return view + (" of the mirrored frame" if k >= 5 else "")


def vadclip_segments(videos: dict[str, list[Video]], source: str | Path, dataset: str | None,
                     manifest_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """VadCLIP's ``(gt_segment, gt_label)`` of the test videos in test-list order, from the class
    annotations at ``source`` (:mod:`lit_extract.store.segment_truth`)."""
    if "test" not in videos:
        raise LitExtractError(f"{manifest_path}: no test split for gt_segment.npy; drop --class_annotations")
    if dataset not in ("ucf-crime", "xd-violence"):
        raise LitExtractError(f"--class_annotations {source}: VadCLIP's class truth is XD-Violence's "
                              "annotations_multiclasses.txt or UCF-Crime's annotation file; give --dataset")
    classes = read_class_annotations(source, dataset)
    return segment_truth([(video.stem, video.y, len(video.rows)) for video in list_order(videos["test"])],
                         classes, str(source))


def audio_name(video: Video, encoder: str) -> str:
    """``{video stem}__{encoder stem}.npy``, a video's audio file (XD-Violence's ``..._label_A__vggish.npy``)."""
    return f"{video.stem}__{file_stem(encoder)}.npy"


def crop_name(video: Video, k: int) -> str:
    """``{video stem}__{k}.npy``, crop ``k``'s file (the published XD-Violence features' names)."""
    return f"{video.stem}__{k}.npy"


def write_lists(targets: dict[str, Path], name: str, members: list[Video], features: Path, encoder: str,
                format: str, crops: int, test_crop: int) -> dict[str, Path]:
    """List ``name`` (``train.list`` / ``test.list``: one feature file per line; per-crop one crop
    file per line, each video's crops together) and, per-crop, VadCLIP's CSV beside it (``path,label``;
    the test CSV one crop per video, ``test_crop``), wherever ``targets`` puts them; returns role -> path."""
    if format == "per-crop":
        lines = [((features / crop_name(video, k)).resolve(), video.label) for video in members for k in range(crops)]
    else:
        lines = [((features / feature_name(video, encoder)).resolve(), video.label) for video in members]
    written = {}
    if name in targets:
        write_text_atomic(targets[name], "".join(f"{path}\n" for path, _ in lines))
        written[name] = targets[name]
    csv = CSV_OF_LIST[name]
    if format == "per-crop" and csv in targets:
        table = pd.DataFrame(lines, columns=["path", "label"])
        if name == TEST_LIST:
            table = table.iloc[test_crop::crops]
        write_text_atomic(targets[csv], table.to_csv(index=False))
        written[csv] = targets[csv]
    return written


def feature_name(video: Video, encoder: str) -> str:
    """``{video stem}_{encoder stem}.npy``, e.g. ``Abuse001_x264_swin3d_t.npy`` (encoder stem:
    :func:`~lit_extract.store.file_stem.file_stem`)."""
    return f"{video.stem}_{file_stem(encoder)}.npy"


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LitExtractError(f"{out}: cannot create the output folder ({exc.strerror}); choose another --out") from exc
    if not os.access(out, os.W_OK):
        raise LitExtractError(f"{out}: output folder can't be written; choose another --out")


def summary(result: ExportResult) -> str:
    """Lines the ``export`` command prints: files, each list and CSV with its composition (the split
    point the methods hard-code), the ground truth, and the methods' hard-coded numbers against
    this export's (:func:`lit_extract.store.method_constants.constant_lines`)."""
    videos = sum(len(members) for members in result.lists.values())
    per_crop = result.format == "per-crop" and not result.audio
    files = videos * result.crops if per_crop else videos
    lines = [f"wrote {files} feature files {result.feature_shape} float32 to {result.features or result.out}/"]
    for name, members in result.lists.items():
        anomalous = sum(video.y == 1 for video in members)
        if name in result.paths:
            if per_crop:
                lines.append(f"{result.paths[name]}: {len(members) * result.crops} crop files of {len(members)} videos, "
                             f"the first {anomalous * result.crops} ({anomalous} anomalous videos x {result.crops} crops) "
                             f"anomalous, then {(len(members) - anomalous) * result.crops} normal")
            else:
                lines.append(f"{result.paths[name]}: {len(members)} videos, the first {anomalous} anomalous, "
                             f"then {len(members) - anomalous} normal")
        csv = CSV_OF_LIST.get(name)
        if csv in result.paths and name == TRAIN_LIST:
            lines.append(f"{result.paths[csv]}: VadCLIP's train list, {len(members) * result.crops} crop files "
                         f"of {len(members)} videos (path,label), {anomalous} anomalous videos first")
        elif csv in result.paths:
            lines.append(f"{result.paths[csv]}: VadCLIP's test list, crop __{result.test_crop} of each of "
                         f"{len(members)} videos")
    if result.ground_truth is not None:
        lines.append(f"{result.ground_truth}: {result.ground_truth_frames} frame labels "
                     f"({result.snippet_frames} per snippet), in test list order")
    else:
        lines.append("note: no frame-level ground truth written (no --annotations): the methods' test AUC needs it; "
                     "pass UCF-Crime's Temporal_Anomaly_Annotation_for_Testing_Videos.txt, XD-Violence's "
                     "annotations.txt or ShanghaiTech's test_frame_mask folder to write gt-ucf.npy, gt_xd.npy or gt-sh.npy")
    if "gt_segment" in result.paths:
        lines.append(f"{result.paths['gt_segment']}, {result.paths['gt_label']}: VadCLIP's anomalous ranges and "
                     f"their classes per test video, for its detection mAP")
    if result.snippet_frames != LOADER_SNIPPET_FRAMES:
        lines.append(f"note: snippets are {result.snippet_frames} frames; RTFM, MGFN and UR-DMU assume "
                     f"{LOADER_SNIPPET_FRAMES} (they repeat each snippet score {LOADER_SNIPPET_FRAMES} times)")
    if result.ignored_annotations:
        lines.append(f"note: {result.ignored_annotations} annotation line(s) name videos not in the test split; ignored")
    lines += result.warnings
    if result.audio:  # the methods' hard-coded numbers are about the RGB lists
        lines.append("XDVioDet pairs line index of a per-crop RGB list with line index // crops of these lists")
        return "\n".join(lines)
    train = result.lists.get(TRAIN_LIST, [])
    needs = {"split": sum(video.y == 1 for video in train) * (result.crops if per_crop else 1),
             "feature_size": result.dim, "crops": result.crops}
    methods = (METHOD_OF_NAME[result.names],) if result.names else None
    lines += constant_lines(result.format, result.dataset, needs, methods)
    return "\n".join(lines)
