"""The weakly-supervised video anomaly detection benchmarks' layouts (``index --dataset``).

One module per dataset: :mod:`~lit_extract.indexing.datasets.ucf_crime`, :mod:`~lit_extract.indexing.datasets.xd_violence`,
:mod:`~lit_extract.indexing.datasets.shanghaitech`; each turns the download's folder into the videos to
index (path, split, category, label). Their frame-level truth is read by :mod:`lit_extract.indexing.frame_truth`.
"""

from __future__ import annotations

from pathlib import Path

from lit_extract.indexing.datasets.entry import Video
from lit_extract.indexing.datasets.shanghaitech import is_shanghaitech, shanghaitech_videos
from lit_extract.indexing.datasets.ucf_crime import is_ucf_crime, ucf_crime_videos
from lit_extract.indexing.datasets.xd_violence import is_xd_violence, xd_violence_videos
from lit_extract.errors import LitExtractError

DATASETS = ("ucf-crime", "xd-violence", "shanghaitech")


def detect_dataset(root: Path, ext: str = "mp4") -> str | None:
    """The one dataset whose layout ``root`` has, or None when it has none.

    Raises :class:`LitExtractError` when it has the marks of several (pass ``--dataset``).
    """
    found = [name for name, test in (("ucf-crime", lambda: is_ucf_crime(root)),
                                     ("shanghaitech", lambda: is_shanghaitech(root)),
                                     ("xd-violence", lambda: is_xd_violence(root, ext))) if test()]
    if len(found) > 1:
        raise LitExtractError(f"{root}: looks like {' and '.join(found)}; pass --dataset with the one it is")
    return found[0] if found else None


def dataset_videos(
    name: str,
    root: Path,
    *,
    split_dir: Path | None = None,
    train_list: Path | None = None,
    test_list: Path | None = None,
    ext: str = "mp4",
) -> list[Video]:
    """The videos of dataset ``name`` (one of :data:`DATASETS`) under ``root``."""
    if name == "ucf-crime":
        return ucf_crime_videos(root, split_dir, ext)
    if name == "xd-violence":
        return xd_violence_videos(root, ext)
    if name == "shanghaitech":
        return shanghaitech_videos(root, train_list, test_list)
    raise LitExtractError(f"unknown --dataset '{name}'; use one of {', '.join(DATASETS)}")
