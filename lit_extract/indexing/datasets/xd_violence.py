"""XD-Violence as distributed: train and test videos, the label in each file name.

File names end in ``_label_<codes>`` (``Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6.mp4``): up to
three class codes joined by ``-``, ``0`` filling the unused places. ``A`` is normal (y=0); every other
code is a kind of violence (y=1): ``B1`` fighting, ``B2`` shooting, ``B4`` riot, ``B5`` abuse, ``B6``
car accident, ``G`` explosion. The codes without the ``0`` places go to ``category`` (``G-B2-B6``,
``B2``, ``A``). A video is in the test split when a folder on its path below the root has "test" in
its name (``Test/``, ``TestVideos/``), else in train: the download's 3,954 training videos come in
several folders, the 800 test videos in one.

The test annotation file (``annotations.txt``) is read by :func:`lit_extract.indexing.frame_truth.read_xd_annotations`.
"""

from __future__ import annotations

from pathlib import Path

from lit_extract.indexing.datasets.entry import Video
from lit_extract.errors import LitExtractError

LABEL_MARK = "_label_"
NORMAL_CODE = "A"
CLASS_CODES = {"A": "normal", "B1": "fighting", "B2": "shooting", "B4": "riot", "B5": "abuse", "B6": "car accident",
               "G": "explosion"}


def label_codes(stem: str) -> list[str]:
    """The class codes of a video's file name (``..._label_B2-G-0`` -> ``["B2", "G"]``); empty without ``_label_``."""
    if LABEL_MARK not in stem:
        return []
    return [code for code in stem.rsplit(LABEL_MARK, 1)[1].split("-") if code and code != "0"]


def is_normal(stem: str) -> bool:
    """True for a normal video (label code ``A``), as the authors' loaders test (``'_label_A' in name``)."""
    return f"{LABEL_MARK}{NORMAL_CODE}" in stem


def is_xd_violence(root: Path, ext: str = "mp4") -> bool:
    """True when a ``*.<ext>`` file under ``root`` has ``_label_`` in its name."""
    return any(LABEL_MARK in path.name for path in root.rglob(f"*.{ext}"))


def xd_violence_videos(root: Path, ext: str = "mp4") -> list[Video]:
    """The labelled ``*.<ext>`` videos under ``root`` (files without ``_label_`` are left out).

    Raises :class:`LitExtractError` for a label code outside :data:`CLASS_CODES` or none at all.
    """
    videos = []
    for path in sorted(root.rglob(f"*.{ext}")):
        if LABEL_MARK not in path.name:
            continue
        codes = label_codes(path.stem)
        unknown = [code for code in codes if code not in CLASS_CODES]
        if not codes or unknown:
            raise LitExtractError(f"{path}: label codes {codes or 'missing'} in the file name are not XD-Violence's "
                                  f"({', '.join(CLASS_CODES)}); rename the file or leave it out")
        folders = path.relative_to(root).parts[:-1]
        split = "test" if any("test" in folder.lower() for folder in folders) else "train"
        videos.append(Video(path.resolve(), split, "-".join(codes), 0 if is_normal(path.stem) else 1))
    return videos
