"""The clip index: one row per clip, read from ``index_clips.csv`` and checked before any work.

Columns (the notebook's): ``split, y, category, path, clip_idx, start_frame, end_frame, clip_len,
stride, fps, n_frames``. ``end_frame`` is exclusive, frames are counted from 0 in presentation
order. Relative ``path`` values are resolved against the folder that holds the CSV.

Row ``i`` of a split means the ``i``-th row of that split in CSV order; every output file of
lit_extract is aligned with that order.

This module is the format (read, validate, summarize); :mod:`lit_extract.indexing.scan` builds an index
from a folder of videos.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pandas as pd

from lit_extract.errors import LitExtractError, first_few

COLUMNS = (
    "split", "y", "category", "path", "clip_idx", "start_frame", "end_frame",
    "clip_len", "stride", "fps", "n_frames",
)
INT_COLUMNS = ("y", "clip_idx", "start_frame", "end_frame", "clip_len", "stride", "n_frames")
SPLITS = ("train", "val", "test")


class IndexValidationError(LitExtractError):
    """The index CSV is malformed or inconsistent; nothing has been written."""


def line_numbers(df: pd.DataFrame, mask: pd.Series) -> str:
    """CSV line numbers (header is line 1) of the rows selected by ``mask``."""
    return first_few([int(i) + 2 for i in df.index[mask]])


def load_index(path: str | Path, *, check_files: bool = True) -> pd.DataFrame:
    """Read and validate an index CSV.

    Returns a DataFrame with the index columns (``path`` made absolute, integer columns as
    int64, ``fps`` as float64), in CSV order, with a fresh RangeIndex.
    Raises :class:`IndexValidationError` naming the offending lines/paths on any violation:
    missing columns, non-numeric or empty values, unknown split names, ``end_frame <= start_frame``,
    ``end_frame > n_frames``, duplicate clips, missing video files, a video in several splits.
    Unknown extra columns only warn (they are dropped).
    """
    path = Path(path)
    if not path.is_file():
        raise IndexValidationError(f"{path}: index file not found; build one with `python -m lit_extract index`")
    try:
        df = pd.read_csv(path, dtype={"path": str, "split": str, "category": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise IndexValidationError(f"{path}: not a readable CSV ({str(exc).strip()})") from exc
    _check_columns(path, df)
    df = df[list(COLUMNS)].copy()
    _check_values(path, df)
    resolved = {video: str(resolve_path(path.parent, video)) for video in df["path"].unique()}  # once per video
    df["path"] = df["path"].map(resolved)
    _check_ranges(path, df)
    _check_duplicates(path, df)
    _check_leakage(path, df)
    if check_files:
        _check_files_exist(path, df)
    return df.reset_index(drop=True)


def resolve_path(base: Path, video: str) -> Path:
    """``video`` as written in a CSV, made absolute: a relative path is read from ``base`` (the CSV's folder)."""
    video_path = Path(video)
    return video_path if video_path.is_absolute() else (base / video_path).resolve()


def _check_columns(path: Path, df: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise IndexValidationError(
            f"{path}: missing column(s) {', '.join(missing)}; the index needs {', '.join(COLUMNS)}"
        )
    extra = [c for c in df.columns if c not in COLUMNS]
    if extra:
        warnings.warn(f"{path}: ignoring unknown column(s) {', '.join(map(str, extra))}", stacklevel=3)


def _check_values(path: Path, df: pd.DataFrame) -> None:
    for column in ("split", "category", "path"):
        empty = df[column].astype(str).str.strip() == ""
        if empty.any():
            raise IndexValidationError(f"{path}: empty '{column}' at line(s) {line_numbers(df, empty)}; fill it in")
    for column in INT_COLUMNS + ("fps",):
        numeric = pd.to_numeric(df[column], errors="coerce")
        bad = numeric.isna()
        if column in INT_COLUMNS:
            bad |= numeric.notna() & (numeric != numeric.round())
        if bad.any():
            kind = "an integer" if column in INT_COLUMNS else "a number"
            raise IndexValidationError(
                f"{path}: '{column}' must be {kind} at line(s) {line_numbers(df, bad)}; fix those values"
            )
        df[column] = numeric.astype("int64" if column in INT_COLUMNS else "float64")
    unknown = ~df["split"].isin(SPLITS)
    if unknown.any():
        names = sorted(set(df.loc[unknown, "split"]))
        raise IndexValidationError(
            f"{path}: unknown split name(s) {first_few(names)} at line(s) {line_numbers(df, unknown)}; "
            f"use {', '.join(SPLITS)}"
        )
    out_of_range = (df["y"] < -128) | (df["y"] > 127)
    if out_of_range.any():
        raise IndexValidationError(f"{path}: 'y' must fit in int8 at line(s) {line_numbers(df, out_of_range)}")


def _check_ranges(path: Path, df: pd.DataFrame) -> None:
    negative = df["start_frame"] < 0
    if negative.any():
        raise IndexValidationError(f"{path}: start_frame < 0 at line(s) {line_numbers(df, negative)}")
    empty = df["end_frame"] <= df["start_frame"]
    if empty.any():
        raise IndexValidationError(
            f"{path}: end_frame <= start_frame at line(s) {line_numbers(df, empty)} "
            "(end_frame is exclusive); fix or drop those clips"
        )
    past_end = df["end_frame"] > df["n_frames"]
    if past_end.any():
        raise IndexValidationError(
            f"{path}: end_frame > n_frames at line(s) {line_numbers(df, past_end)}; "
            "the clip runs past the end of its video: fix n_frames or the clip range"
        )


def _check_duplicates(path: Path, df: pd.DataFrame) -> None:
    duplicated = df.duplicated(subset=["path", "start_frame", "end_frame"], keep="first")
    if duplicated.any():
        raise IndexValidationError(
            f"{path}: duplicate clip(s) (same path, start_frame, end_frame) at line(s) "
            f"{line_numbers(df, duplicated)}; drop the repeats"
        )


def _check_leakage(path: Path, df: pd.DataFrame) -> None:
    splits_per_video = df.groupby("path")["split"].nunique()
    leaked = sorted(splits_per_video.index[splits_per_video > 1])
    if leaked:
        raise IndexValidationError(
            f"{path}: {len(leaked)} video(s) appear in more than one split (leakage): {first_few(leaked, 3)}; "
            "assign each video to one split"
        )


def _check_files_exist(path: Path, df: pd.DataFrame) -> None:
    videos = df["path"].unique()
    missing = [v for v in videos if not (Path(v).is_file() or Path(v).is_dir())]  # a folder: image-folder video
    if missing:
        raise IndexValidationError(
            f"{path}: {len(missing)} video file(s) not found: {first_few(missing, 3)}; "
            "fix the paths (relative paths are read from the index's folder) or remove those rows"
        )


def split_rows(index: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``split`` in CSV order, re-numbered ``0..n-1`` (row ``i`` = output row ``i``).

    Raises :class:`IndexValidationError` when the split has no rows.
    """
    rows = index[index["split"] == split].reset_index(drop=True)
    if rows.empty:
        present = [s for s in SPLITS if (index["split"] == s).any()]
        raise IndexValidationError(
            f"split '{split}' has no rows in the index; choose from {', '.join(present)} "
            f"(e.g. --data.splits '[{', '.join(present)}]')"
        )
    return rows


def summarize(index: pd.DataFrame) -> pd.DataFrame:
    """Clips per split and class, as the notebook prints them: rows ``split``, columns ``y``."""
    return pd.crosstab(index["split"], index["y"], margins=True, margins_name="all")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (identifies the index a run was made from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def video_clip_summary(index: pd.DataFrame) -> pd.DataFrame:
    """Videos and clips per split (rows, ``SPLITS`` order, then ``all``) and class (columns ``(videos|clips, y)``)."""
    videos = index.drop_duplicates("path")
    counts = {
        "videos": pd.crosstab(videos["split"], videos["y"], margins=True, margins_name="all"),
        "clips": summarize(index),
    }
    table = pd.concat(counts, axis=1).fillna(0).astype("int64")
    order = [s for s in SPLITS if s in table.index] + ["all"]
    return table.loc[order]
