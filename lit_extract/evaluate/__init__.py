"""Evaluate: probes on a finished run's embeddings, their metrics and figures, and ``compare``.

Reads a run through :mod:`lit_extract.store` and frame truth through :mod:`lit_extract.indexing`.

- :mod:`~lit_extract.evaluate.probe`: ``EmbeddingDataModule`` and ``LinearProbe`` (``probe``).
- :mod:`~lit_extract.evaluate.metrics`: clip, video and frame-level AUROC.
- :mod:`~lit_extract.evaluate.roc_plot`: ROC figures.
- :mod:`~lit_extract.evaluate.compare`: one probe per encoder of a folder, one table.
- :mod:`~lit_extract.evaluate.captured_output`: a probe's output into its own log.
"""
