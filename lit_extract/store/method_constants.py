"""The numbers the published VAD methods hard-code, and what an export needs instead.

RTFM, MGFN and UR-DMU split their train list at a fixed line (the anomalous videos come first) and
build their networks for a fixed feature size; UR-DMU and XDVioDet average a fixed number of crops
per test video. On a list of another length, features of another size or another crop count they
train or test without an error, on the wrong labels or the wrong videos. :data:`HARD_CODED` holds
each such number with the file and lines that hold it, read at the commit in :data:`SOURCES`;
:func:`constant_lines` turns them into the lines ``export`` prints (the value the export needs,
and a warning where it differs from the published one).

Only facts read in the methods' code are here; a method's options that the code does read
(``--feature-size``) are named as options, numbers written into the code as lines to edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["split", "feature_size", "crops"]

SOURCES: dict[str, tuple[str, str]] = {  # method -> (GitHub repository, commit the lines were read at)
    "RTFM": ("tianyu0207/RTFM", "cf938f4"),
    "MGFN": ("carolchenyx/MGFN.", "98e9389"),
    "UR-DMU": ("henrryzh1/UR-DMU", "40cfdf5"),
    "VadCLIP": ("nwpu-zxr/VadCLIP", "f643c91"),
    "XDVioDet": ("Roc-Ng/XDVioDet", "f846d8c"),
}
DATASET_NAMES = {"ucf-crime": "UCF-Crime", "xd-violence": "XD-Violence", "shanghaitech": "ShanghaiTech"}
DATASETS_OF = {  # the datasets each method's code has loaders for
    "RTFM": ("ucf-crime", "shanghaitech"), "MGFN": ("ucf-crime", "xd-violence"),
    "UR-DMU": ("ucf-crime", "xd-violence"), "VadCLIP": ("ucf-crime", "xd-violence"), "XDVioDet": ("xd-violence",),
}


@dataclass(frozen=True)
class HardCoded:
    """One number a method's code fixes: ``value`` on ``lines`` of ``file`` (its repository's
    :data:`SOURCES` commit), for export ``format`` and ``dataset`` (None: any dataset).

    ``kind``: ``split`` (train-list lines taken as anomalous: ``[:value]`` / ``[value:]``),
    ``feature_size`` (D) or ``crops`` (crop files or crop rows averaged per video). ``what``
    says what the number is; ``option`` names the method's command-line option when the number
    is its default (pass the option instead of editing); ``fix`` replaces the default advice
    ("change lines ... to N") where one edit is not enough.
    """

    method: str
    kind: Kind
    format: str
    dataset: str | None
    file: str
    lines: tuple[int, ...]
    value: int
    what: str
    option: str | None = None
    fix: str | None = None

    @property
    def where(self) -> str:
        return f"line{'s' if len(self.lines) > 1 else ''} {', '.join(map(str, self.lines))}"

    def advice(self, needed: int) -> str:
        """What to do when this export needs ``needed`` instead of :attr:`value`."""
        if self.fix is not None:
            return self.fix.format(needed=needed)
        if self.option is not None:
            return f"pass {self.option} {needed}"
        return f"change {'them' if len(self.lines) > 1 else 'it'} to {needed}"

    def line(self, needed: int) -> str:
        """The line ``export`` prints: the published number, where it is, and what this export needs;
        a ``warning:`` line when they differ."""
        dataset = f" for {DATASET_NAMES[self.dataset]}" if self.dataset else ""
        told = f"{self.method} {self.file} reads {self.value} ({self.where}): {self.what}{dataset}"
        if needed == self.value:
            return f"{told}; this export: {needed}, as published"
        return f"warning: {told}; this export needs {needed}: {self.advice(needed)}"


HARD_CODED: tuple[HardCoded, ...] = (
    # RTFM (rtfm format: (snippets, 10, D) per video)
    HardCoded("RTFM", "split", "rtfm", "ucf-crime", "dataset.py", (47, 51), 810,
              "anomalous train videos"),
    HardCoded("RTFM", "split", "rtfm", "shanghaitech", "dataset.py", (37, 41), 63,
              "anomalous train videos"),
    HardCoded("RTFM", "feature_size", "rtfm", None, "option.py", (5,), 2048, "the feature size",
              option="--feature-size"),
    HardCoded("RTFM", "feature_size", "rtfm", None, "model.py", (137, 143, 146, 181), 2048,
              "the feature size of its aggregation module",
              fix="edit those lines as docs/vad.md (Feature size) shows for {needed}"),
    HardCoded("RTFM", "crops", "rtfm", None, "model.py", (214, 217), 10, "crops per video in training",
              fix="change the 10 on those lines to ncrops"),
    # MGFN (rtfm format on UCF-Crime, per-crop on XD-Violence)
    HardCoded("MGFN", "split", "rtfm", "ucf-crime", "datasets/dataset.py", (29, 33), 810,
              "anomalous train videos"),
    HardCoded("MGFN", "split", "per-crop", "xd-violence", "datasets/dataset.py", (38, 42), 9525,
              "anomalous train crop files"),
    HardCoded("MGFN", "feature_size", "rtfm", "ucf-crime", "models/mgfn.py", (139, 187, 188), 2048,
              "the feature size (its --feature_size option is not read)"),
    HardCoded("MGFN", "feature_size", "per-crop", "xd-violence", "models/mgfn.py", (139, 187, 188), 2048,
              "the feature size (its --feature_size option is not read)"),
    HardCoded("MGFN", "crops", "rtfm", "ucf-crime", "models/mgfn.py", (26, 29), 10, "crops per video in training",
              fix="change the 10 on those lines to ncrops"),
    # UR-DMU (per-crop: one (snippets, D) file per crop, one list line per crop file)
    HardCoded("UR-DMU", "split", "per-crop", "ucf-crime", "dataset_loader.py", (24, 26), 8100,
              "anomalous train crop files"),
    HardCoded("UR-DMU", "split", "per-crop", "xd-violence", "dataset_loader.py", (93, 95), 9525,
              "anomalous train crop files"),
    HardCoded("UR-DMU", "feature_size", "per-crop", "ucf-crime", "ucf_main.py", (28,), 1024, "len_feature"),
    HardCoded("UR-DMU", "feature_size", "per-crop", "xd-violence", "xd_main.py", (27,), 1024, "len_feature"),
    HardCoded("UR-DMU", "crops", "per-crop", "ucf-crime", "ucf_test.py", (38,), 10,
              "crop files averaged per test video"),
    HardCoded("UR-DMU", "crops", "per-crop", "xd-violence", "xd_test.py", (23,), 5,
              "crop files averaged per test video",
              fix="change it and xd_main.py line 43 to {needed}"),
    # VadCLIP (per-crop, its train.csv / test.csv)
    HardCoded("VadCLIP", "feature_size", "per-crop", "xd-violence", "src/xd_option.py", (8,), 512,
              "the feature size (added to CLIP ViT-B/16's text features, src/model.py line 111)",
              option="--visual-width",
              fix="use CLIP ViT-B/16 image features (configs/clip_vitb16.yaml)"),
    HardCoded("VadCLIP", "feature_size", "per-crop", "ucf-crime", "src/ucf_option.py", (8,), 512,
              "the feature size (added to CLIP ViT-B/16's text features, src/model.py line 111)",
              option="--visual-width",
              fix="use CLIP ViT-B/16 image features (configs/clip_vitb16.yaml)"),
    # XDVioDet (per-crop, XD-Violence)
    HardCoded("XDVioDet", "feature_size", "per-crop", "xd-violence", "option.py", (18,), 1024 + 128,
              "the feature size (RGB 1024 + audio 128 for its default --modality MIX2)",
              option="--feature-size", fix="pass --modality RGB --feature-size {needed}"),
    HardCoded("XDVioDet", "crops", "per-crop", "xd-violence", "main.py", (31,), 5,
              "crop files averaged per test video (test loader batch_size)"),
)


def hard_coded(format: str, dataset: str | None, methods: tuple[str, ...] | None = None) -> list[HardCoded]:
    """The entries for an export in ``format`` of ``dataset`` (None: not known, every dataset's), of
    ``methods`` (None: every method that has loaders for ``dataset``)."""
    return [entry for entry in HARD_CODED
            if entry.format == format and (methods is None or entry.method in methods)
            and (dataset is None or (entry.dataset in (None, dataset) and dataset in DATASETS_OF[entry.method]))]


def constant_lines(format: str, dataset: str | None, needs: dict[Kind, int],
                   methods: tuple[str, ...] | None = None) -> list[str]:
    """The lines ``export`` prints about the methods' hard-coded numbers: a heading naming the
    commits read, then one line per :func:`hard_coded` entry (:meth:`HardCoded.line`).

    ``needs``: what this export has for each kind: ``split`` (anomalous lines of the train list),
    ``feature_size`` (D) and ``crops``.
    """
    entries = hard_coded(format, dataset, methods)
    if not entries:
        return []
    read = ", ".join(f"{method} {SOURCES[method][1]}" for method in dict.fromkeys(entry.method for entry in entries))
    known = "" if dataset else "; dataset not known (--dataset): every dataset's numbers"
    return [f"the methods' hard-coded numbers (their code at {read}{known}):",
            *(entry.line(needs[entry.kind]) for entry in entries)]
