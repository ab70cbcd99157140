"""File names from encoder names: readable, safe in any file system, and one per encoder.

Every output file named after an encoder (``emb_{stem}_{split}.npy``, ``done_{stem}_{split}.npy``,
``run_{stem}.json``, ``manifest_{stem}.json``, exported ``{video}_{stem}.npy``, ``compare``'s
``{stem}/`` probe folder) uses :func:`file_stem`; the run record and the manifest keep the full
name. The rule:

- a name made only of letters, digits, ``_`` and ``-`` (every named encoder: ``r3d_18``,
  ``swin3d_t``, ``i3d_r50``) is its own stem, so folders written before prefixed names existed
  resume unchanged;
- any other name (``timm:vit_base_patch16_clip_quickgelu_224.openai``, ``hf:/models/videomae-base``,
  ``hf:MCG-NJU/videomae-base``) becomes its family prefix, ``-``, the model part with every run of
  characters other than letters, digits, ``_``, ``.`` and ``-`` replaced by ``-`` (its last
  :data:`MAX_MODEL_CHARS` characters: the end of a path names the model), ``-`` and the first 8 hex
  digits of the SHA-256 of the full name. The digest keeps names that read alike apart
  (``hf:/a/b`` and ``hf:a/b``): ``timm:resnet50`` -> ``timm-resnet50-<8 hex>``.
"""

from __future__ import annotations

import hashlib
import re

PLAIN = re.compile(r"[A-Za-z0-9_-]+")
UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_MODEL_CHARS = 64


def file_stem(encoder: str) -> str:
    """The part of file names that stands for ``encoder``: ``encoder`` itself when it holds only
    letters, digits, ``_`` and ``-``; else a readable, safe stem ending in a digest of the name."""
    if PLAIN.fullmatch(encoder):
        return encoder
    family, _, model = encoder.partition(":") if ":" in encoder else ("", "", encoder)
    model = _safe(model)[-MAX_MODEL_CHARS:].strip("-.")
    readable = "-".join(part for part in (_safe(family), model) if part)
    digest = hashlib.sha256(encoder.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def _safe(text: str) -> str:
    """``text`` with each run of characters other than letters, digits, ``_``, ``.``, ``-`` as one ``-``,
    without leading or trailing ``-``/``.``."""
    return UNSAFE_RUN.sub("-", text).strip("-.")
