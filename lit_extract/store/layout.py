"""The output folder shared by encoders: which files each encoder owns, and its run record.

Runs of different encoders into one ``--writer.output_dir`` (in one pass or one after another)
coexist. Encoder ``e`` owns (in file names ``{e}`` is its :func:`~lit_extract.store.file_stem.file_stem`:
the name itself for named encoders, a safe stem for ``timm:``/``hf:`` names; records keep the name):

- ``run_{e}.json``: its run record: what makes its rows what they are (encoder, weights, frames,
  img_size, mean/std, D, index sha256, decoder) and its file names (``files``: templates with
  ``{split}``). A rerun of ``e`` into the folder must match it, or is refused (unless
  ``--writer.overwrite``, which starts ``e`` over and leaves the other encoders alone).
- ``emb_{e}_{split}.npy``, ``done_{e}_{split}.npy`` (its resume record), ``manifest_{e}.json``.
- labels and statuses (an audio encoder always has its own: its statuses are audio statuses):
  ``y_{split}.npy`` and ``status_{split}.npy`` are shared by every encoder
  whose clips are provably the same row for row (:func:`same_clips`: same index sha256, frames,
  img_size and decoder), each writing the same bytes. An encoder whose clips differ from those of
  an encoder already using the shared names gets ``y_{e}_{split}.npy`` and ``status_{e}_{split}.npy``.

Folders written before encoders could share one (one ``run.json`` and ``done_{split}.npy``): the
encoder named in ``run.json`` keeps those names, so the same command still resumes it, and other
encoders can be added beside it. Every manifest lists its encoder's files by name, so readers
(``probe``, ``inspect``, ``compare``) need no rule from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lit_extract.errors import LitExtractError
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.index import SPLITS
from lit_extract.decode.lost_frames import PATTERN as LOST_FRAMES_PATTERN
from lit_extract.store.manifest import manifest_path, split_file_names, write_json_atomic

LEGACY_RUN_FILE = "run.json"
SHARED_TEMPLATES = {key: split_file_names("{encoder}", "{split}")[key] for key in ("labels", "status")}
CLIP_KEYS = ("frames", "img_size", "decoder")  # with the index: what fixes labels and statuses
OUTPUT_PATTERNS = ("emb_*.npy", "y_*.npy", "status_*.npy", "done_*.npy", "manifest_*.json")
# Run settings added after records were first written, with the value every earlier run had.
ADDED_LATER = {"transform": "exact", "crops": 1, "resize_short": None, "resize": None, "crop_order": None}


def earlier_settings(identity: dict[str, Any]) -> dict[str, Any]:
    """:data:`ADDED_LATER` for a record written before them: ten crops were always in torchvision order."""
    settings = dict(ADDED_LATER)
    if identity.get("crops", 1) != 1:
        settings["crop_order"] = "torchvision"
    return settings


def run_record_path(directory: Path, encoder: str) -> Path:
    """Where encoder ``encoder``'s run record lives in ``directory``."""
    return Path(directory) / f"run_{file_stem(encoder)}.json"


def file_templates(encoder: str, shared_labels: bool) -> dict[str, str]:
    """File name templates (``{split}`` placeholder) of an encoder new to a folder."""
    templates = split_file_names(encoder, "{split}")
    if not shared_labels:
        stem = file_stem(encoder)
        templates.update(labels=f"y_{stem}_{{split}}.npy", status=f"status_{stem}_{{split}}.npy")
    return templates


def legacy_templates(encoder: str) -> dict[str, str]:
    """File name templates of a folder written before encoders shared folders (one ``run.json``)."""
    return {"embeddings": f"emb_{encoder}_{{split}}.npy", **SHARED_TEMPLATES, "done": "done_{split}.npy"}


def file_names(templates: dict[str, str], split: str) -> dict[str, str]:
    """``templates`` filled in for ``split``: key (embeddings, labels, status, done) -> file name."""
    return {key: template.replace("{split}", split) for key, template in templates.items()}


@dataclass(frozen=True)
class RunRecord:
    """An encoder's run record as found in a folder: its identity, file name templates, and file."""

    path: Path
    identity: dict[str, Any]
    templates: dict[str, str]
    legacy: bool = False

    @property
    def shares_labels(self) -> bool:
        return self.templates["labels"] == SHARED_TEMPLATES["labels"]

    def owned_names(self) -> set[str]:
        """Every output file name this encoder may have in the folder."""
        encoder = self.identity["encoder"]
        names = {name for split in SPLITS for name in file_names(self.templates, split).values()}
        return names | {manifest_path(".", encoder).name}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LitExtractError(f"{path}: unreadable run record ({exc}); delete it or use --writer.overwrite true") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("encoder"), str):
        raise LitExtractError(f"{path}: not a lit_extract run record; delete it or use --writer.overwrite true")
    return payload


def read_records(directory: Path) -> dict[str, RunRecord]:
    """The run records in ``directory`` by encoder (a legacy ``run.json`` included)."""
    directory = Path(directory)
    records = {}
    legacy = directory / LEGACY_RUN_FILE
    if legacy.is_file():
        identity = _read_json(legacy)
        records[identity["encoder"]] = RunRecord(legacy, identity, legacy_templates(identity["encoder"]), legacy=True)
    for path in sorted(directory.glob("run_*.json")):
        payload = _read_json(path)
        templates = payload.pop("files", None)
        if not isinstance(templates, dict) or set(templates) != {"embeddings", "labels", "status", "done"}:
            raise LitExtractError(f"{path}: run record without its file names; delete it or use --writer.overwrite true")
        records[payload["encoder"]] = RunRecord(path, payload, templates)
    return records


def write_record(directory: Path, identity: dict[str, Any], templates: dict[str, str]) -> Path:
    """Write encoder ``identity["encoder"]``'s run record (atomically)."""
    path = run_record_path(directory, identity["encoder"])
    write_json_atomic(path, {**identity, "files": templates})
    return path


def differences(record: RunRecord, identity: dict[str, Any]) -> list[str]:
    """``"key: old there, new now"`` for each setting where ``identity`` differs from ``record``.

    The index is compared by content (sha256: a moved CSV is the same index). A legacy record is
    compared on the keys it has (it predates ``decoder``); settings added since take the value
    every run had before them (:func:`earlier_settings`).
    """
    old = {**earlier_settings(record.identity), **record.identity}
    keys = [key for key in identity if not record.legacy or key in old]
    differing = []
    for key in keys:
        if key == "index":
            same = (old.get("index") or {}).get("sha256") == identity["index"]["sha256"]
        else:
            same = old.get(key) == identity[key]
        if not same:
            differing.append(f"{key}: {old.get(key)!r} there, {identity[key]!r} now")
    return differing


def same_clips(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two run identities provably give the same labels and statuses, row for row."""
    if any(key not in a or key not in b for key in (*CLIP_KEYS, "index")):
        return False  # e.g. a legacy record, which does not name its decoder
    return a["index"].get("sha256") == b["index"].get("sha256") and all(a[k] == b[k] for k in CLIP_KEYS)


def choose_templates(identity: dict[str, Any], records: dict[str, RunRecord]) -> dict[str, str]:
    """The file names of encoder ``identity["encoder"]``: its record's if it has one; else new
    names, sharing ``y_``/``status_`` unless an encoder already using them has other clips."""
    encoder = identity["encoder"]
    if encoder in records:
        return records[encoder].templates
    if identity.get("kind") in ("audio", "flow"):  # audio statuses; flow statuses over T + 1 frames: their own files
        return file_templates(encoder, shared_labels=False)
    sharing = [record for record in records.values() if record.shares_labels]
    return file_templates(encoder, all(same_clips(record.identity, identity) for record in sharing))


def orphan_outputs(directory: Path, records: Iterable[RunRecord]) -> list[Path]:
    """Output-like files in ``directory`` that no run record names (left by something else)."""
    owned = set().union(*(record.owned_names() for record in records))
    return sorted(
        path for pattern in OUTPUT_PATTERNS for path in Path(directory).glob(pattern) if path.name not in owned
    )


def remove_outputs(directory: Path, encoders: Iterable[str]) -> None:
    """Delete the outputs of ``encoders`` (run record included) and any orphan output; the files
    of other encoders (shared ``y_``/``status_`` while one of them uses them) stay."""
    records = read_records(directory)
    for encoder in encoders:
        record = records.pop(encoder, None)
        if record is not None:
            record.path.unlink()
    for path in orphan_outputs(directory, records.values()):
        path.unlink()
    if not records:  # the lost-frame records of the splits belong to the folder's remaining runs
        for path in Path(directory).glob(LOST_FRAMES_PATTERN):
            path.unlink()
