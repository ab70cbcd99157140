"""ShanghaiTech Campus, the weakly-supervised split of Zhong et al. (2019) as RTFM distributes it.

The download holds ``training/videos/<name>.avi`` (330 normal videos) and ``testing/frames/<name>/``
(107 videos as folders of JPEG frames, read as image-folder videos: :mod:`lit_extract.decode.image_folder`)
with their frame-level truth ``testing/test_frame_mask/<name>.npy`` (one 0/1 per frame). The split
lists ``SH_Train.txt`` (238 names) and ``SH_Test.txt`` (199) mix both: a name resolves to
``training/videos/<name>.avi`` or else ``testing/frames/<name>/``. A video is anomalous (y=1,
category ``Anomaly``) when its mask has a 1, else normal (y=0, ``Normal``; the training videos have
no mask).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lit_extract.indexing.datasets.entry import NORMAL, Video, check_one_split_per_video, find_file, read_list_lines
from lit_extract.errors import LitExtractError, first_few

SPLIT_LISTS = {"train": "SH_Train.txt", "test": "SH_Test.txt"}
ANOMALY = "Anomaly"
VIDEOS, FRAMES, MASKS = Path("training", "videos"), Path("testing", "frames"), Path("testing", "test_frame_mask")


def is_shanghaitech(root: Path) -> bool:
    """True when ``root`` has ShanghaiTech's ``training/videos`` or ``testing/frames`` folder."""
    return (root / VIDEOS).is_dir() or (root / FRAMES).is_dir()


def mask_path(root: Path, name: str) -> Path:
    """Where the frame mask of test video ``name`` lives."""
    return root / MASKS / f"{name}.npy"


def resolve(root: Path, name: str) -> Path | None:
    """The video ``name`` of a split list: ``training/videos/<name>.avi`` or ``testing/frames/<name>/``, or None."""
    for path in (root / VIDEOS / f"{name}.avi", root / FRAMES / name):
        if path.exists():
            return path.resolve()
    return None


def split_list(root: Path, given: Path | None, split: str) -> Path:
    """The split list of ``split``: ``given``, or ``SH_Train.txt``/``SH_Test.txt`` found under ``root``."""
    found = given if given is not None else find_file(root, SPLIT_LISTS[split])
    if found is None or not found.is_file():
        flag = f"--{split}-list"
        raise LitExtractError(f"{found or root}: no {SPLIT_LISTS[split]}; pass {flag} with RTFM's list/{SPLIT_LISTS[split]}")
    return found


def shanghaitech_videos(root: Path, train_list: Path | None = None, test_list: Path | None = None) -> list[Video]:
    """The videos named by the two split lists, labelled by their masks (see the module docstring).

    Raises :class:`LitExtractError` for a missing list, a listed name found in neither place, or a
    name in both lists.
    """
    videos = []
    for split, given in (("train", train_list), ("test", test_list)):
        listed = split_list(root, given, split)
        names = read_list_lines(listed)
        paths = {name: resolve(root, name) for name in names}
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            raise LitExtractError(f"{listed}: {len(missing)} listed video(s) in neither {root / VIDEOS}/<name>.avi nor "
                                  f"{root / FRAMES}/<name>/: {first_few(missing, 3)}; check --root")
        for name, path in paths.items():
            mask = mask_path(root, name)
            anomalous = mask.is_file() and bool(np.any(np.load(mask) == 1))
            videos.append(Video(path, split, ANOMALY if anomalous else NORMAL, int(anomalous)))
    check_one_split_per_video(videos, f"{SPLIT_LISTS['train']} and {SPLIT_LISTS['test']}")
    return videos
