"""Evaluate: probes on a finished run's embeddings, their metrics and figures, and ``compare``.

Reads a run through :mod:`lit_extract.store` and frame truth through :mod:`lit_extract.indexing`.

- :mod:`~lit_extract.evaluate.probe`: ``EmbeddingDataModule`` and ``LinearProbe`` (``probe``),
  on clip labels or, with ``--model.objective mil``, on video labels.
- :mod:`~lit_extract.evaluate.bags`: videos as bags of snippets, padded batches with a mask,
  the 32-segment resampling of the UCF-Crime paper.
- :mod:`~lit_extract.evaluate.mil_loss`: top-k MIL and Sultani et al.'s ranking loss.
- :mod:`~lit_extract.evaluate.snippet_head`: the UCF-Crime paper's 512-32-1 network.
- :mod:`~lit_extract.evaluate.metrics`: clip, video and frame-level AUROC, frame AP as the
  benchmarks' authors compute it, each benchmark's official metric.
- :mod:`~lit_extract.evaluate.roc_plot`: ROC figures.
- :mod:`~lit_extract.evaluate.pr_plot`: frame-level precision-recall figures.
- :mod:`~lit_extract.evaluate.score_timeline`: test videos' scores over time, annotated frames shaded.
- :mod:`~lit_extract.evaluate.compare`: one probe per encoder of a folder, one table.
- :mod:`~lit_extract.evaluate.captured_output`: a probe's output into its own log.
- :mod:`~lit_extract.evaluate.memmap_dataset`: datasets over memory maps that workers reopen.
"""
