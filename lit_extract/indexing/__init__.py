"""Indexing: from a dataset's folder to the index CSV of clips, and the benchmarks' frame truth.

Reads folders and annotation files; decodes only to count frames (:mod:`lit_extract.decode`).

- :mod:`~lit_extract.indexing.index`: the index CSV (columns, validation, splits, checksums).
- :mod:`~lit_extract.indexing.scan`: ``index``: scan a folder, count frames, cut clips, carve val.
- :mod:`~lit_extract.indexing.val_split`: what ``index`` reports about the val split it made.
- :mod:`~lit_extract.indexing.datasets`: one module per benchmark download (UCF-Crime,
  XD-Violence, ShanghaiTech): its videos, splits and labels.
- :mod:`~lit_extract.indexing.frame_truth`: each benchmark's frame-level ground truth.
"""
