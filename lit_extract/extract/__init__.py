"""Extract: the Lightning pieces of ``predict``: data in, embeddings out.

- :mod:`~lit_extract.extract.data`: ``ClipDataModule``, the index's splits as dataloaders that
  decode each video once.
- :mod:`~lit_extract.extract.module`: ``FrozenVideoEncoder``, the frozen encoders' ``predict_step``.
- :mod:`~lit_extract.extract.flow_stream`: the flow of a pass: each batch's optical flow, flips, flow encoders.
- :mod:`~lit_extract.extract.writer`: ``EmbeddingWriter``, rows into the output folder across DDP ranks.
- :mod:`~lit_extract.extract.stopping`: SIGTERM/SIGINT end ``predict`` at a batch boundary.
"""
