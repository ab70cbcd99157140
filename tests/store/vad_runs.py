"""Finished extractions over the three benchmarks' real video names, without videos, for ``export``.

Each run is what ``predict`` leaves (index CSV of 16/16 snippets, embeddings, labels, status, done,
manifest) with seeded random embeddings, so the tests can export it and read the exports the way
the methods' own loaders do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from conftest import clip_rows
from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.store.manifest import split_file_names, write_json_atomic

SNIPPET, DIM = 16, 6

# (split, file stem, category, frames); category "Normal" / "A" is a normal video.
UCF = [
    ("train", "Normal_Videos001_x264", "Normal", 50),
    ("train", "Abuse002_x264", "Abuse", 64),
    ("train", "Abuse001_x264", "Abuse", 40),
    ("val", "Normal_Videos000_x264", "Normal", 32),
    ("val", "Arrest001_x264", "Arrest", 48),
    ("test", "Normal_Videos_003_x264", "Normal", 33),
    ("test", "Arson011_x264", "Arson", 48),
    ("test", "Abuse028_x264", "Abuse", 32),
]
UCF_ANNOTATIONS = (  # the annotation file's own format: two spaces between fields, trailing spaces
    "Abuse028_x264.mp4  Abuse  165  240  -1  -1  \n"
    "Arson011_x264.mp4  Arson  20  30  45  60  \n"
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  \n"
)
XD = [
    ("train", "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0", "B2", 40),
    ("train", "Bad.Boys.II.2003__#00-30-16_00-36-53_label_B2-B6-G", "B2-B6-G", 48),
    ("train", "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A", "A", 36),
    ("test", "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6", "G-B2-B6", 260),
    ("test", "v=U6MC8JJJZSY__#1_label_G-0-0", "G", 170),
    ("test", "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A", "A", 40),
]
XD_ANNOTATIONS = (  # real lines of annotations.txt (the third carries .mp4, as in the download)
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6 157 180 185 244 250 360 582 810\n"
    "v=U6MC8JJJZSY__#1_label_G-0-0.mp4 150 779\n"
)
XD_CLASS_ANNOTATIONS = (  # real lines of VadCLIP's list/annotations_multiclasses.txt
    "v=S-7rRLrxnVQ__#1_label_B4-0-0 B4 0 1517 B4 1970 3038\n"
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6 B2 157 180 G 185 244 B2 250 282 G 282 355 G 582 810 B6 338 360\n"
    "v=U6MC8JJJZSY__#1_label_G-0-0.mp4 G 150 779\n"
)
SHANGHAITECH = [  # 4-digit names: test frame folders (anomalous here), 3-digit: training videos (normal)
    ("train", "01_0014", "Anomaly", 40),
    ("train", "01_0015", "Anomaly", 32),
    ("train", "01_001", "Normal", 48),
    ("test", "01_0016", "Anomaly", 32),
    ("test", "01_002", "Normal", 40),
]


def write_run(folder: Path, videos: list[tuple[str, str, str, int]], crops: int, crop_order: str | None = None,
              dim: int = DIM) -> Path:
    """An extraction of ``videos`` (16-frame snippets every 16 frames) with ``crops`` crops in
    ``crop_order``; returns its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, stem, category, frames in videos:
        normal = category in ("Normal", "A")
        for row in clip_rows(Path(f"/data/{category}/{stem}.mp4"), split, category, frames, SNIPPET, SNIPPET):
            rows.append(dict(row, y=0 if normal else 1))
    index = pd.DataFrame(rows, columns=list(COLUMNS))
    index_path = folder / "index_16.csv"
    index.to_csv(index_path, index=False)
    rng = np.random.default_rng(0)
    splits = {}
    for split in dict.fromkeys(index["split"]):
        part = index[index["split"] == split]
        files = split_file_names("enc", split)
        np.save(folder / files["embeddings"], rng.normal(size=(len(part), crops, dim)).astype(np.float16))
        np.save(folder / files["labels"], part["y"].to_numpy(np.int8))
        np.save(folder / files["status"], np.zeros(len(part), np.uint8))
        np.save(folder / files["done"], np.ones(len(part), np.uint8))
        splits[split] = {"rows": len(part), "files": files}
    manifest = folder / "manifest_enc.json"
    write_json_atomic(manifest, {
        "complete": True, "encoder": "enc", "embedding_dim": dim, "crops": crops, "crop_order": crop_order,
        "dtype": "float16", "index": {"path": str(index_path), "sha256": file_sha256(index_path)}, "splits": splits,
    })
    return manifest


def videos_of(videos: list[tuple[str, str, str, int]], anomalous: bool) -> set[str]:
    """The stems of the anomalous (or the normal) videos of a run's list."""
    return {stem for _, stem, category, _ in videos if (category not in ("Normal", "A")) == anomalous}
