"""One video to index (:class:`Video`) and the rules every dataset layout shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lit_extract.errors import LitExtractError, first_few

NORMAL = "Normal"


@dataclass(frozen=True)
class Video:
    """One video to index: absolute ``path``, its ``split`` (one of ``SPLITS``), ``category`` and label ``y``."""

    path: Path
    split: str
    category: str
    y: int


def label_of(category: str) -> int:
    """``y`` of a category: 0 for ``Normal`` (any case), 1 for every other (anomaly) category."""
    return 0 if category.lower() == NORMAL.lower() else 1


def read_list_lines(path: Path) -> list[str]:
    """The stripped, non-empty lines of the text list ``path``; one that is not UTF-8 raises
    :class:`LitExtractError` naming the byte."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LitExtractError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); give the official list") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def find_file(root: Path, name: str) -> Path | None:
    """The first file called ``name`` under ``root`` (sorted walk), or None."""
    return next(iter(sorted(root.rglob(name))), None)


def check_one_split_per_video(videos: list[Video], source: str) -> None:
    """Raise :class:`LitExtractError` when a video is assigned to two splits by ``source``."""
    splits: dict[Path, set[str]] = {}
    for video in videos:
        splits.setdefault(video.path, set()).add(video.split)
    leaked = sorted(str(path) for path, names in splits.items() if len(names) > 1)
    if leaked:
        raise LitExtractError(f"{source}: video(s) in more than one split: {first_few(leaked, 3)}; keep each in one split")
