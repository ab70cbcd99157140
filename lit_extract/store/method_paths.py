"""Where each method's code reads its lists and ground truth (``export --names METHOD``).

RTFM and UR-DMU open fixed paths (RTFM's ``--rgb-list``, ``--test-rgb-list`` and ``--gt`` options
are parsed but never read; UR-DMU has no such options); VadCLIP and XDVioDet read their options,
whose defaults are the paths below. ``export --names METHOD --out DIR`` writes the lists and the
ground truth at these paths under ``DIR`` (the folder the method's scripts run in), and the
feature files, which the lists name by absolute path, under ``DIR/features/``: nothing to copy
or rename. A flow encoder's crop files have the RGB files' names: with ``--names xdviodet`` they go to
``DIR/features/Flow/`` (the published ``i3d-features/Flow/``), its lists to ``list/flow.list`` and
``list/flow_test.list``. Read at the commits of :data:`lit_extract.store.method_constants.SOURCES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lit_extract.errors import LitExtractError

METHOD_NAMES = ("rtfm", "urdmu", "vadclip", "xdviodet")  # --names choices
FEATURES_FOLDER = "features"  # under --out, with --names
FLOW_FEATURES_FOLDER = "features/Flow"  # a flow export's crop files, with --names: the RGB files' names


@dataclass(frozen=True)
class MethodPaths:
    """The paths (relative to the method's folder) one method reads for one dataset, and where.

    ``files`` maps an export role (``train.list``, ``test.list``, ``train.csv``, ``test.csv``,
    ``gt``, ``gt_segment``, ``gt_label``) to ``(path, "file line N")``, the code that opens it.
    """

    method: str
    format: str
    dataset: str
    files: dict[str, tuple[str, str]]


METHOD_PATHS: tuple[MethodPaths, ...] = (
    MethodPaths("RTFM", "rtfm", "ucf-crime", {
        "train.list": ("list/ucf-i3d.list", "dataset.py line 23"),
        "test.list": ("list/ucf-i3d-test.list", "dataset.py line 21"),
        "gt": ("list/gt-ucf.npy", "test_10crop.py line 24"),
    }),
    MethodPaths("RTFM", "rtfm", "shanghaitech", {
        "train.list": ("list/shanghai-i3d-train-10crop.list", "dataset.py line 18"),
        "test.list": ("list/shanghai-i3d-test-10crop.list", "dataset.py line 16"),
        "gt": ("list/gt-sh.npy", "test_10crop.py line 22"),
    }),
    MethodPaths("UR-DMU", "per-crop", "ucf-crime", {
        "train.list": ("list/UCF_Train.list", "dataset_loader.py line 16"),
        "test.list": ("list/UCF_Test.list", "dataset_loader.py line 16"),
        "gt": ("frame_label/gt-ucf.npy", "ucf_test.py line 19"),
    }),
    MethodPaths("UR-DMU", "per-crop", "xd-violence", {
        "train.list": ("list/XD_Train.list", "dataset_loader.py line 85"),
        "test.list": ("list/XD_Test.list", "dataset_loader.py line 85"),
        "gt": ("frame_label/xd_gt.npy", "xd_test.py line 19"),
    }),
    MethodPaths("VadCLIP", "per-crop", "ucf-crime", {
        "train.csv": ("list/ucf_CLIP_rgb.csv", "src/ucf_option.py line 21"),
        "test.csv": ("list/ucf_CLIP_rgbtest.csv", "src/ucf_option.py line 22"),
        "gt": ("list/gt_ucf.npy", "src/ucf_option.py line 23"),
        "gt_segment": ("list/gt_segment_ucf.npy", "src/ucf_option.py line 24"),
        "gt_label": ("list/gt_label_ucf.npy", "src/ucf_option.py line 25"),
    }),
    MethodPaths("VadCLIP", "per-crop", "xd-violence", {
        "train.csv": ("list/xd_CLIP_rgb.csv", "src/xd_option.py line 21"),
        "test.csv": ("list/xd_CLIP_rgbtest.csv", "src/xd_option.py line 22"),
        "gt": ("list/gt.npy", "src/xd_option.py line 23"),
        "gt_segment": ("list/gt_segment.npy", "src/xd_option.py line 24"),
        "gt_label": ("list/gt_label.npy", "src/xd_option.py line 25"),
    }),
    MethodPaths("XDVioDet", "per-crop", "xd-violence", {
        "train.list": ("list/rgb.list", "option.py line 5"),
        "test.list": ("list/rgb_test.list", "option.py line 8"),
        "gt": ("list/gt.npy", "option.py line 11"),
        "audio.list": ("list/audio.list", "option.py line 7"),  # an audio encoder's export (vggish)
        "audio_test.list": ("list/audio_test.list", "option.py line 10"),
        "flow.list": ("list/flow.list", "option.py line 6"),  # a flow encoder's export (i3d_inception_flow)
        "flow_test.list": ("list/flow_test.list", "option.py line 9"),
    }),
)

METHOD_OF_NAME = {"rtfm": "RTFM", "urdmu": "UR-DMU", "vadclip": "VadCLIP", "xdviodet": "XDVioDet"}
METHOD_FORMATS = {"rtfm": "rtfm", "urdmu": "per-crop", "vadclip": "per-crop", "xdviodet": "per-crop"}


def method_paths(name: str, dataset: str | None) -> MethodPaths:
    """The paths ``--names name`` writes for ``dataset``; raises :class:`LitExtractError` when the
    dataset is not known or the method reads no lists of it."""
    method = METHOD_OF_NAME[name]
    known = [paths for paths in METHOD_PATHS if paths.method == method]
    datasets = ", ".join(paths.dataset for paths in known)
    if dataset is None:
        raise LitExtractError(f"--names {name}: {method} reads other files for {datasets}; say which with "
                              "--dataset (or give --annotations)")
    for paths in known:
        if paths.dataset == dataset:
            return paths
    raise LitExtractError(f"--names {name}: {method}'s code reads lists for {datasets}, not {dataset}; "
                          "export without --names and point its options at the files")
