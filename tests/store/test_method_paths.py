"""``export --names METHOD``: the lists and ground truth where that method's code reads them.

The paths expected here are written as read in each method's code (RTFM ``dataset.py`` and
``test_10crop.py``, UR-DMU ``dataset_loader.py`` and ``*_test.py``, VadCLIP's and XDVioDet's
option defaults); each test reads the files from the method's folder the way its loader does
(relative paths from the folder its scripts run in) and compares them with a default export of
the same run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lit_extract.commands.cli import main
from vad_runs import SHANGHAITECH, UCF, UCF_ANNOTATIONS, XD, XD_ANNOTATIONS, XD_CLASS_ANNOTATIONS, write_run


def export(manifest: Path, out: Path, *extra: str) -> None:
    main(["export", "--manifest", str(manifest), "--out", str(out), *extra])


def files_under(folder: Path) -> set[str]:
    """Every file under ``folder`` except the feature files, relative."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")
            if path.is_file() and path.parent.name != "features"}


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    (root / "ann.txt").write_text(UCF_ANNOTATIONS)
    return write_run(root / "run", UCF, crops=10, crop_order="centre_first"), root


@pytest.fixture(scope="module")
def xd(tmp_path_factory):
    root = tmp_path_factory.mktemp("xd")
    (root / "annotations.txt").write_text(XD_ANNOTATIONS)
    (root / "annotations_multiclasses.txt").write_text(XD_CLASS_ANNOTATIONS)
    return write_run(root / "run", XD, crops=5, crop_order="centre_first"), root


def in_folder(folder: Path, read):
    """``read()`` run from ``folder``, as the method's scripts run from their checkout."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        return read()
    finally:
        os.chdir(before)


def test_rtfm_ucf_reads_its_fixed_list_and_gt_paths_unchanged(ucf):
    manifest, root = ucf
    export(manifest, root / "RTFM", "--names", "rtfm", "--annotations", str(root / "ann.txt"))
    export(manifest, root / "default", "--annotations", str(root / "ann.txt"))
    assert files_under(root / "RTFM") == {"list/ucf-i3d.list", "list/ucf-i3d-test.list", "list/gt-ucf.npy"}
    train = in_folder(root / "RTFM", lambda: list(open("list/ucf-i3d.list")))  # dataset.py, --dataset ucf
    gt = in_folder(root / "RTFM", lambda: np.load("list/gt-ucf.npy"))  # test_10crop.py
    default = (root / "default" / "train.list").read_text().splitlines()
    assert [Path(line.strip()).name for line in train] == [Path(line).name for line in default]
    for line, other in zip(train, default):
        np.testing.assert_array_equal(np.load(line.strip("\n")), np.load(other))
    assert all(Path(line.strip()).parent == (root / "RTFM" / "features").resolve() for line in train)
    np.testing.assert_array_equal(gt, np.load(root / "default" / "gt-ucf.npy"))


def test_rtfm_shanghaitech_writes_the_shanghai_10crop_lists(tmp_path):
    manifest = write_run(tmp_path / "run", SHANGHAITECH, crops=10)
    export(manifest, tmp_path / "RTFM", "--names", "rtfm")
    assert files_under(tmp_path / "RTFM") == {"list/shanghai-i3d-train-10crop.list",
                                              "list/shanghai-i3d-test-10crop.list"}


def test_urdmu_xd_reads_list_xd_train_and_frame_label_xd_gt(xd):
    manifest, root = xd
    export(manifest, root / "UR-DMU", "--names", "urdmu", "--annotations", str(root / "annotations.txt"))
    export(manifest, root / "default", "--format", "per-crop", "--annotations", str(root / "annotations.txt"))
    assert files_under(root / "UR-DMU") == {"list/XD_Train.list", "list/XD_Test.list", "frame_label/xd_gt.npy"}
    names = lambda lines: [Path(line.split()[0]).name for line in lines]  # noqa: E731
    test = in_folder(root / "UR-DMU", lambda: [line.split() for line in open(os.path.join("list", "XD_Test.list"))])
    assert names([" ".join(vid) for vid in test]) == names((root / "default" / "test.list").read_text().splitlines())
    gt = in_folder(root / "UR-DMU", lambda: np.load("frame_label/xd_gt.npy"))
    np.testing.assert_array_equal(gt, np.load(root / "default" / "gt_xd.npy"))


def test_urdmu_ucf_reads_list_ucf_train_and_frame_label_gt_ucf(ucf):
    manifest, root = ucf
    export(manifest, root / "UR-DMU", "--names", "urdmu", "--annotations", str(root / "ann.txt"))
    assert files_under(root / "UR-DMU") == {"list/UCF_Train.list", "list/UCF_Test.list", "frame_label/gt-ucf.npy"}


def test_vadclip_xd_reads_its_option_defaults(xd):
    manifest, root = xd
    export(manifest, root / "VadCLIP", "--names", "vadclip", "--annotations", str(root / "annotations.txt"),
           "--class_annotations", str(root / "annotations_multiclasses.txt"))
    assert files_under(root / "VadCLIP") == {"list/xd_CLIP_rgb.csv", "list/xd_CLIP_rgbtest.csv", "list/gt.npy",
                                             "list/gt_segment.npy", "list/gt_label.npy"}
    test_csv = in_folder(root / "VadCLIP", lambda: pd.read_csv("list/xd_CLIP_rgbtest.csv"))
    first = "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6__0.npy"  # violent first, crop __0
    assert Path(test_csv["path"][0]).name == first


def test_vadclip_ucf_reads_its_ucf_option_defaults(ucf):
    manifest, root = ucf
    export(manifest, root / "VadCLIP", "--names", "vadclip", "--annotations", str(root / "ann.txt"))
    assert files_under(root / "VadCLIP") == {"list/ucf_CLIP_rgb.csv", "list/ucf_CLIP_rgbtest.csv", "list/gt_ucf.npy",
                                             "list/gt_segment_ucf.npy", "list/gt_label_ucf.npy"}


def test_xdviodet_reads_list_rgb_and_list_gt(xd):
    manifest, root = xd
    export(manifest, root / "XDVioDet", "--names", "xdviodet", "--annotations", str(root / "annotations.txt"))
    assert files_under(root / "XDVioDet") == {"list/rgb.list", "list/rgb_test.list", "list/gt.npy"}
    rgb = in_folder(root / "XDVioDet", lambda: list(open("list/rgb.list")))
    assert all(np.load(line.strip("\n")).shape[1] == 6 for line in rgb)


def test_a_method_without_lists_for_the_dataset_is_refused_before_writing(xd, tmp_path, capsys):
    manifest, _ = xd
    with pytest.raises(SystemExit) as exit_info:
        export(manifest, tmp_path / "out", "--names", "rtfm")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert err.startswith("error: --names rtfm: RTFM's code reads lists for ucf-crime, shanghaitech, not xd-violence")
    assert not (tmp_path / "out").exists()


def test_names_of_an_unknown_dataset_ask_for_it(tmp_path, capsys):
    manifest = write_run(tmp_path / "run", [("train", "clip_a", "Fight", 32), ("train", "clip_b", "Normal", 32),
                                            ("test", "clip_c", "Normal", 32)], crops=10)
    with pytest.raises(SystemExit):
        export(manifest, tmp_path / "out", "--names", "urdmu")
    assert ("error: --names urdmu: UR-DMU reads other files for ucf-crime, xd-violence; say which with --dataset"
            in capsys.readouterr().err)
    export(manifest, tmp_path / "out", "--names", "urdmu", "--dataset", "ucf-crime")
    assert files_under(tmp_path / "out") == {"list/UCF_Train.list", "list/UCF_Test.list"}


def test_names_and_another_format_are_refused(ucf, tmp_path, capsys):
    manifest, _ = ucf
    with pytest.raises(SystemExit):
        export(manifest, tmp_path / "out", "--names", "urdmu", "--format", "rtfm")
    assert "error: --names urdmu reads --format per-crop files, not rtfm" in capsys.readouterr().err


def test_an_unknown_method_name_lists_the_known_ones(ucf, tmp_path, capsys):
    manifest, _ = ucf
    with pytest.raises(SystemExit):
        export(manifest, tmp_path / "out", "--names", "mgfn")
    assert capsys.readouterr().err.strip() == "error: --names mgfn: choose rtfm, urdmu, vadclip, xdviodet"
