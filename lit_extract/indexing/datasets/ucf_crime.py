"""UCF-Crime as distributed: videos under category folders, split by ``Anomaly_Train.txt`` / ``Anomaly_Test.txt``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from lit_extract.indexing.datasets.entry import NORMAL, Video, check_one_split_per_video, find_file, label_of, read_list_lines
from lit_extract.errors import LitExtractError, first_few

UCF_SPLIT_LISTS = {"train": "Anomaly_Train.txt", "test": "Anomaly_Test.txt"}


def is_ucf_crime(root: Path) -> bool:
    """True when ``root`` looks like UCF-Crime's download (``Anomaly-Videos-Part-*`` or ``Anomaly_Train.txt``)."""
    return any(root.glob("Anomaly-Videos-Part-*")) or find_file(root, UCF_SPLIT_LISTS["train"]) is not None


def ucf_crime_videos(root: Path, split_dir: Path | None = None, ext: str = "mp4") -> list[Video]:
    """The videos of UCF-Crime as distributed, split by the official lists.

    ``Anomaly_Train.txt`` / ``Anomaly_Test.txt`` are read from ``split_dir``, or found anywhere under
    ``root``. Each list line (``Abuse/Abuse001_x264.mp4``,
    ``Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4``) is matched by file name to a
    ``*.<ext>`` file anywhere under ``root``; its folder part gives the category (``Normal`` when
    the folder name contains "normal", y=0; else the folder name, y=1). Files in no list are left out.
    Raises :class:`LitExtractError` for a missing list, a listed file that is not under ``root``, a
    file name found twice under ``root``, or a video in both lists.
    """
    lists = {split: _ucf_split_list(root, split_dir, name) for split, name in UCF_SPLIT_LISTS.items()}
    files = _files_by_name(root, ext)
    videos: list[Video] = []
    for split, list_path in lists.items():
        entries = [PurePosixPath(line.replace("\\", "/")) for line in read_list_lines(list_path)]
        missing = [str(entry) for entry in entries if entry.name not in files]
        if missing:
            raise LitExtractError(
                f"{list_path}: {len(missing)} listed video(s) not found under {root}: {first_few(missing, 3)}; "
                "check --root (every listed file must be somewhere under it) or remove those lines"
            )
        for entry in entries:
            path = files[entry.name]
            folder = entry.parent.name or path.parent.name
            category = NORMAL if "normal" in folder.lower() else folder
            videos.append(Video(path, split, category, label_of(category)))
    check_one_split_per_video(videos, f"{lists['train']} and {lists['test']}")
    return videos


def _ucf_split_list(root: Path, split_dir: Path | None, name: str) -> Path:
    """Path of the official split list ``name``, from ``split_dir`` or searched under ``root``."""
    found = (split_dir / name if (split_dir / name).is_file() else None) if split_dir else find_file(root, name)
    if found is None:
        where = split_dir if split_dir else root
        raise LitExtractError(
            f"{where}: no {name}; pass --split-dir with the folder holding Anomaly_Train.txt and Anomaly_Test.txt"
        )
    return found


def _files_by_name(root: Path, ext: str) -> dict[str, Path]:
    """Every ``*.<ext>`` file under ``root`` by file name; a name found twice is an error."""
    files: dict[str, Path] = {}
    for path in sorted(root.rglob(f"*.{ext}")):
        if path.name in files:
            raise LitExtractError(
                f"{root}: video name {path.name} found twice ({files[path.name]}, {path}); "
                "split lists match by file name, so remove the copy"
            )
        files[path.name] = path.resolve()
    return files
