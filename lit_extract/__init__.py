"""lit_extract: clip embeddings from frozen video encoders, on PyTorch Lightning.

The public API, importable from here (``from lit_extract import ClipDataModule``); each name is
imported on first use, so ``import lit_extract`` (and the command line's ``--help``) stays light.

The package follows the data, one sub-package per stage; imports run down the stages only
(``lint-imports`` checks it):

- :mod:`lit_extract.commands`: the command line and the LightningCLI programs.
- :mod:`lit_extract.extract`: ``ClipDataModule``, ``FrozenVideoEncoder``, ``EmbeddingWriter``.
- :mod:`lit_extract.encoders`: one contract, one module per encoder family.
- :mod:`lit_extract.evaluate`: probes, metrics, figures, ``compare``.
- :mod:`lit_extract.store`: the output folder: layout, manifest, locks, faults, exports.
- :mod:`lit_extract.indexing`: the index CSV, folder scans, datasets and their frame truth.
- :mod:`lit_extract.decode`: frames from videos and image folders, crops, device transforms, sound.
- :mod:`lit_extract.errors`, :mod:`lit_extract.atomic`: the errors users see and atomic writes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

# public name -> the module that defines it
_PUBLIC = {
    "ClipDataModule": "lit_extract.extract.data",
    "FrozenVideoEncoder": "lit_extract.extract.module",
    "EmbeddingWriter": "lit_extract.extract.writer",
    "build_index": "lit_extract.indexing.scan",
    "load_index": "lit_extract.indexing.index",
    "split_rows": "lit_extract.indexing.index",
    "read_frame_truth": "lit_extract.indexing.frame_truth",
    "manifest_path": "lit_extract.store.manifest",
    "read_manifest": "lit_extract.store.manifest",
    "open_split": "lit_extract.store.manifest",
    "load_run_index": "lit_extract.store.manifest",
    "export_features": "lit_extract.store.export",
    "build_encoder": "lit_extract.encoders",
    "build_audio_encoder": "lit_extract.encoders",
    "encoder_names": "lit_extract.encoders",
    "EmbeddingDataModule": "lit_extract.evaluate.probe",
    "LinearProbe": "lit_extract.evaluate.probe",
    "LitExtractError": "lit_extract.errors",
    "write_demo_videos": "lit_extract.commands.demo",
}

__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time each name loads on first use
    from lit_extract.commands.demo import write_demo_videos
    from lit_extract.encoders import build_audio_encoder, build_encoder, encoder_names
    from lit_extract.errors import LitExtractError
    from lit_extract.evaluate.probe import EmbeddingDataModule, LinearProbe
    from lit_extract.extract.data import ClipDataModule
    from lit_extract.extract.module import FrozenVideoEncoder
    from lit_extract.extract.writer import EmbeddingWriter
    from lit_extract.indexing.frame_truth import read_frame_truth
    from lit_extract.indexing.index import load_index, split_rows
    from lit_extract.indexing.scan import build_index
    from lit_extract.store.export import export_features
    from lit_extract.store.manifest import load_run_index, manifest_path, open_split, read_manifest


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lit_extract' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
