"""Cheap checks of a ``predict`` run's inputs, before anything slow or remote (weight downloads).

``predict`` builds its classes in LightningCLI's order, the encoder (which may download its
weights) before the data; a missing index would then be reported after a failed download, and the
user would fix one problem, rerun, and meet the next. :func:`check_predict_inputs` runs first
(``ExtractCLI.before_instantiate_classes``) and raises the first problem among, in this order:
the ``--data.*`` values, the index file (exists, parses, validates; every split to extract has
rows), the output folder (``--writer.*`` values; the folder or its nearest existing parent is a
writable folder), and the local ``--model.weights`` files (exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.store.writable_folder import check_writable_folder


def check_predict_inputs(config: Mapping[str, Any]) -> None:
    """Raise :class:`LitExtractError` naming the first bad input of a ``predict`` config.

    ``config`` is the parsed LightningCLI config: ``data``, ``writer`` and ``model`` hold the init
    arguments of ClipDataModule, EmbeddingWriter and FrozenVideoEncoder. Nothing is written.
    """
    from lit_extract.encoders import weights_advice
    from lit_extract.extract.data import ClipDataModule
    from lit_extract.extract.module import encoder_list, weights_per_encoder
    from lit_extract.extract.writer import EmbeddingWriter

    data = ClipDataModule(**as_dict(config["data"]))  # its argument checks
    index = load_index(data.index_path)
    splits, _ = data.resolve_splits(index)
    for split in splits:
        split_rows(index, split)  # a given split without rows
    writer = as_dict(config["writer"])
    EmbeddingWriter(**writer)  # its argument checks
    check_writable_folder(Path(writer.get("output_dir", "processed")).expanduser(), "--writer.output_dir")
    model = as_dict(config["model"])
    names = encoder_list(model.get("encoder", "swin3d_t"))
    weights_by_name = weights_per_encoder(names, model.get("weights", "DEFAULT"))
    for name, weights in weights_by_name.items():
        if weights.strip().lower() not in ("default", "none") and not Path(weights).expanduser().is_file():
            raise LitExtractError(weights_advice(name, f"{weights}: weights file of {name} not found",
                                                 "/path/to/an/existing/file", weights_by_name))


def as_dict(value: Any) -> dict[str, Any]:
    """A jsonargparse ``Namespace`` (or a mapping) of init arguments as a plain dict."""
    return value.as_dict() if hasattr(value, "as_dict") else dict(value or {})
