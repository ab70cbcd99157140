"""Exports of a pass with a flow encoder: XD-Violence's flow files and two-stream features.

``python -m lit_extract export --manifest run/manifest_i3d_inception_flow.json --format per-crop
--out features/Flow`` writes what XDVioDet (``Roc-Ng/XDVioDet``, modalities ``MIX``, ``MIX_ALL``,
``FLOW``) reads as its flow set:

- one float32 ``(snippets, D)`` file per crop, ``{video stem}__{k}.npy`` (the published
  ``i3d-features/Flow/<video>__<k>.npy``), holding the video's rows **that have a next frame**:
  a row ending the video (``end_frame == n_frames``) has no frame to take its last flow to
  (:mod:`lit_extract.extract.flow_stream`) and is left out, so a video whose frame count is a
  multiple of the snippet length has one row fewer than its RGB files, as the published flow
  files (XDVioDet's loader then drops the RGB file's last row, and audio's for ``MIX_ALL``);
- ``flow.list`` / ``flow_test.list``: one line per crop file, in the order of the RGB lists
  (``train.list`` / ``test.list`` of a per-crop export of the RGB manifest: anomalous videos first,
  by file name, each video's crops together), so line ``i`` of ``flow.list`` is the flow of line
  ``i`` of the RGB list.

The flow files have the RGB files' names: export them into a folder of their own (the published
``Flow/`` beside ``RGB/``); a folder holding an RGB export's lists is refused. ``--names xdviodet``
puts them where XDVioDet's options read them (``option.py``: ``--flow-list list/flow.list``,
``--test-flow-list list/flow_test.list``), as an RGB and an audio export with ``--names xdviodet``
do: ``--out`` is XDVioDet's folder, the lists go to ``list/flow.list`` / ``list/flow_test.list``,
the crop files to ``features/Flow/`` (the RGB export's are in ``features/``).

``--format two-stream`` (from the RGB manifest; the flow manifest is the flow encoder's in the same
run folder, or ``--flow_manifest``): one float32 ``(snippets, D_rgb + D_flow)`` file per video,
``{video stem}.npy``, RGB then flow along the features, every row of the video in index order (the
snippets need not be back-to-back: THUMOS' 16-frame snippets every 4 frames): what BMN, G-TAD and
ActionFormer read as THUMOS'14 / ActivityNet two-stream I3D features (2048 = 1024 + 1024). A row
without a next frame keeps its flow (its last flow is a still frame's) so both streams have the
same rows. One crop only: average crops are not what those features are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lit_extract.atomic import save_npy_atomic, write_text_atomic
from lit_extract.errors import LitExtractError, first_few
from lit_extract.indexing.index import split_rows
from lit_extract.store.export import (
    TEST_LIST, TRAIN_LIST, Video, crop_name, dataset_of_names, list_order, make_folder, read_run,
)
from lit_extract.store.method_paths import FLOW_FEATURES_FOLDER, METHOD_NAMES, method_paths
from lit_extract.store.manifest import load_run_index, open_split, read_manifest

FLOW_LIST_OF = {"train": "flow.list", "val": "flow.list", "test": "flow_test.list"}  # XDVioDet's option.py defaults
FLOW_KIND = "flow"
TWO_STREAM = "two-stream"


@dataclass(frozen=True)
class FlowExport:
    """What a flow export wrote: the folder, the files' count and shape, each list's videos in
    line order (with the rows each kept), and the summary lines ``export`` prints."""

    out: Path
    files: int
    feature_shape: str
    lists: dict[str, list[Video]]
    dropped: int = 0  # rows without a next frame, left out
    paths: dict[str, Path] | None = None  # list name -> where it was written (default: out / name)
    features: Path | None = None  # the crop files' folder (default: out)

    def summary(self) -> str:
        lines = [f"wrote {self.files} feature files {self.feature_shape} float32 to {self.features or self.out}/"]
        for name, members in self.lists.items():
            anomalous = sum(video.y == 1 for video in members)
            path = (self.paths or {}).get(name, self.out / name)
            lines.append(f"{path}: {len(members)} videos in the RGB lists' order, the first {anomalous} anomalous")
        if self.dropped:
            lines.append(f"{self.dropped} video(s) end on their last snippet: one flow row fewer than RGB "
                         "(XDVioDet drops the RGB file's last row)")
        return "\n".join(lines)


def is_flow_run(run: dict) -> bool:
    """True for the manifest record of a flow encoder."""
    return run.get("kind") == FLOW_KIND


def rows_with_next_frame(manifest_path: Path, run: dict, split: str) -> np.ndarray:
    """bool (rows,) of ``split``: True where the row has a frame after its last (``end_frame < n_frames``)."""
    rows = split_rows(load_run_index(manifest_path, run), split)
    return rows["end_frame"].to_numpy(np.int64) < rows["n_frames"].to_numpy(np.int64)


def flow_list_paths(out: Path, names: str | None, dataset: str | None) -> tuple[Path, dict[str, Path]]:
    """``(the crop files' folder, list name -> path)``: ``out`` and ``out/flow.list``, ``out/flow_test.list``;
    with ``names`` (``xdviodet``) ``out/features/Flow`` and the lists where XDVioDet reads them."""
    if names is None:
        return out, {name: out / name for name in sorted(set(FLOW_LIST_OF.values()))}
    if names not in METHOD_NAMES:
        raise LitExtractError(f"--names {names}: choose {', '.join(METHOD_NAMES)}")
    method = method_paths(names, dataset)
    lists = {name: out / method.files[name][0] for name in sorted(set(FLOW_LIST_OF.values())) if name in method.files}
    if not lists:
        raise LitExtractError(f"--names {names}: {method.method}'s code reads no flow files; export the flow with "
                              "--names xdviodet (XDVioDet's MIX / MIX_ALL) or without --names")
    return out / FLOW_FEATURES_FOLDER, lists


def export_flow_crops(manifest: str | Path, out: str | Path, names: str | None = None,
                      dataset: str | None = None) -> FlowExport:
    """A flow encoder's run -> XDVioDet's flow crop files and ``flow.list`` / ``flow_test.list`` (module doc);
    ``names`` ``xdviodet``: where XDVioDet reads them under ``out`` (``dataset``: default, the one the
    video names are).

    Raises:
        LitExtractError: not a flow run, rows not done or not back-to-back snippets, ``out``
            holds an RGB export's lists (without ``names``), or ``names`` reads no flow files.
    """
    manifest_path, out = Path(manifest), Path(out).expanduser()
    source = read_run(manifest_path)
    if not is_flow_run(source.run):
        raise LitExtractError(f"{manifest_path}: {source.run['encoder']} is not a flow encoder; export it without "
                              "flow (its lists are train.list / test.list)")
    features, targets = flow_list_paths(out, names, dataset or dataset_of_names(source.stems))
    rgb_lists = [name for name in (TRAIN_LIST, TEST_LIST) if (features / name).exists()]
    if rgb_lists:
        raise LitExtractError(f"{features}: holds an RGB export ({', '.join(rgb_lists)}); flow files have the RGB files' "
                              "names: export the flow into a folder of its own (e.g. Flow/ beside RGB/)")
    for folder in dict.fromkeys([out, features, *(path.parent for path in targets.values())]):
        make_folder(folder)
    for path in targets.values():  # stale lists must not point at a half-done export
        path.unlink(missing_ok=True)
    lists: dict[str, list[Video]] = {}
    dropped = 0
    for split, videos in source.videos.items():
        has_next = rows_with_next_frame(manifest_path, source.run, split)
        for video in videos:
            kept = video.rows[has_next[video.rows]]
            dropped += len(kept) < len(video.rows)
            rows = np.asarray(source.embeddings[split][kept], dtype=np.float32)
            rows = rows.reshape(len(kept), source.crops, source.dim)  # snippets crops D
            for k in range(source.crops):
                save_npy_atomic(features / crop_name(video, k), np.ascontiguousarray(rows[:, k]))  # snippets D
            lists.setdefault(FLOW_LIST_OF[split], []).append(video)
    lists = {name: list_order(members) for name, members in lists.items()}
    for name, members in lists.items():
        paths = [(features / crop_name(video, k)).resolve() for video in members for k in range(source.crops)]
        write_text_atomic(targets[name], "".join(f"{path}\n" for path in paths))
    files = sum(len(members) for members in lists.values()) * source.crops
    return FlowExport(out, files, f"(snippets, {source.dim})", lists, dropped, targets, features)


def export_flow(manifest: str | Path, format: str | None, out: str | Path,
                flow_manifest: str | Path | None = None, names: str | None = None,
                dataset: str | None = None) -> FlowExport | None:
    """``export`` of a flow encoder's manifest (``--format per-crop``, or ``--names xdviodet``:
    :func:`export_flow_crops`) or ``--format two-stream`` (:func:`export_two_stream`); None for every
    other export (RGB, audio).

    Raises:
        LitExtractError: a flow manifest with another format.
    """
    if format == TWO_STREAM:
        return export_two_stream(manifest, out, flow_manifest)
    if not is_flow_run(read_manifest(manifest)):
        return None
    if format != "per-crop" and not (format is None and names is not None):
        raise LitExtractError(f"{manifest}: is a flow encoder's manifest; export it with --format per-crop "
                              "(XDVioDet's flow files and flow.list / flow_test.list), or the RGB manifest with "
                              "--format two-stream")
    return export_flow_crops(manifest, out, names, dataset)


def flow_manifest_beside(manifest_path: Path) -> Path:
    """The one flow encoder's manifest in the folder of ``manifest_path``."""
    found = [path for path in sorted(manifest_path.parent.glob("manifest_*.json"))
             if is_flow_run(read_manifest(path, require_complete=False))]
    if len(found) != 1:
        what = "no flow encoder's manifest" if not found else f"several flow manifests ({first_few([p.name for p in found])})"
        raise LitExtractError(f"{manifest_path.parent}: {what}; pass --flow_manifest run/manifest_i3d_inception_flow.json")
    return found[0]


def export_two_stream(manifest: str | Path, out: str | Path, flow_manifest: str | Path | None = None) -> FlowExport:
    """An RGB run and the flow run of the same rows -> ``{video stem}.npy`` (snippets, D_rgb + D_flow) (module doc).

    Raises:
        LitExtractError: ``manifest`` is a flow run or no flow run is found, the two runs' rows
            differ (index, crops), rows are not done, or a run has several crops.
    """
    manifest_path, out = Path(manifest), Path(out).expanduser()
    rgb = read_manifest(manifest_path)
    if is_flow_run(rgb):
        raise LitExtractError(f"{manifest_path}: is the flow stream's manifest; pass the RGB encoder's "
                              "(--manifest run/manifest_i3d_inception.json), the flow manifest is found beside it")
    flow_path = Path(flow_manifest) if flow_manifest is not None else flow_manifest_beside(manifest_path)
    flow = read_manifest(flow_path)
    if not is_flow_run(flow):
        raise LitExtractError(f"{flow_path}: {flow['encoder']} is not a flow encoder; pass a flow encoder's manifest")
    for run, path in ((rgb, manifest_path), (flow, flow_path)):
        if int(run.get("crops", 1)) != 1:
            raise LitExtractError(f"{path}: {run.get('crops')} crops; two-stream files are one crop's (--data.crops 1)")
    if rgb["index"].get("sha256") != flow["index"].get("sha256") or rgb["splits"].keys() != flow["splits"].keys():
        raise LitExtractError(f"{manifest_path} and {flow_path}: not the same index's rows; run both encoders in one pass")
    index = load_run_index(manifest_path, rgb)
    make_folder(out)
    files, dim = 0, int(rgb["embedding_dim"]) + int(flow["embedding_dim"])
    for split in rgb["splits"]:
        rows = split_rows(index, split)
        streams = [open_split(path, split, run) for run, path in ((rgb, manifest_path), (flow, flow_path))]
        for arrays, path in zip(streams, (manifest_path, flow_path)):
            not_done = np.flatnonzero(np.asarray(arrays.done) == 0)
            if not_done.size:
                raise LitExtractError(f"{path}: {split} has {not_done.size} row(s) not done (e.g. rows "
                                      f"{first_few(not_done.tolist())}); rerun the same predict command to finish them")
        for video, members in rows.groupby("path", sort=False).indices.items():
            both = [np.asarray(arrays.embeddings[members], dtype=np.float32) for arrays in streams]  # snippets D each
            save_npy_atomic(out / f"{Path(video).stem}.npy", np.concatenate(both, axis=1))  # snippets D_rgb+D_flow
            files += 1
    return FlowExport(out, files, f"(snippets, {dim})", {})
