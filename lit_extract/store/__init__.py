"""Store: the output folder: which files each encoder owns, how they are written, and exports.

Reads and writes ``.npy`` files and records; knows the index (:mod:`lit_extract.indexing`) and
lost frames (:mod:`lit_extract.decode`), never the models.

- :mod:`~lit_extract.store.layout`: the files each encoder owns and its run record.
- :mod:`~lit_extract.store.manifest`: the manifest written last, and the readers of a finished run.
- :mod:`~lit_extract.store.folder_lock`: one run at a time per output folder.
- :mod:`~lit_extract.store.disk_faults`: a full or read-only disk as one line that says what to do.
- :mod:`~lit_extract.store.file_stem`: file-safe stems of encoder names.
- :mod:`~lit_extract.store.writable_folder`: whether an output folder can be written.
- :mod:`~lit_extract.store.figure_titles`: figure titles wrapped to fit their figure.
- :mod:`~lit_extract.store.export`: per-video feature files, lists and ground truth for VAD methods.
- :mod:`~lit_extract.store.flow_export`: a flow encoder's files (XDVioDet's flow lists) and two-stream files.
- :mod:`~lit_extract.store.method_constants`: the numbers the VAD methods hard-code (file, lines, commit).
- :mod:`~lit_extract.store.method_paths`: where each VAD method reads its lists and ground truth (``--names``).
- :mod:`~lit_extract.store.segment_truth`: VadCLIP's class-level truth (``gt_segment.npy``, ``gt_label.npy``).

Atomic writes (:mod:`lit_extract.atomic`) sit at the package root: every stage writes with them.
"""
