"""Whether an output folder can be written before anything is computed into it."""

from __future__ import annotations

import os
from pathlib import Path

from lit_extract.errors import LitExtractError


def check_writable_folder(folder: Path, flag: str) -> None:
    """Raise unless ``folder`` is a writable folder or could be created as one (its nearest
    existing parent is a writable folder). Creates nothing."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LitExtractError(f"{folder}: output folder can't be written ({existing} is not a folder); choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LitExtractError(f"{folder}: output folder can't be written ({existing} is not writable); choose another {flag}")
