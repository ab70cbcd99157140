"""``export`` names the numbers each method hard-codes and the values this export needs.

For each method, the test exports a small run over its benchmark's real video names, reads from
``export``'s output the line about one published constant (the number, file and lines as read in
the method's code at the commits of ``SOURCES``), and applies that method's loader, written out
here from its code, with the number the line says this export needs: the split point must put
exactly the anomalous videos first, the feature size must be the files' D, the crop count must
group each test video's crop files. The published numbers are written here as read in the code
(checked against the fetched repositories by /work/refs/methods/check_constants.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lit_extract.commands.cli import main
from lit_extract.store.method_constants import HARD_CODED, SOURCES, HardCoded
from vad_runs import DIM, SHANGHAITECH, UCF, XD, videos_of, write_run

NEEDS = re.compile(r"this export(?: needs |: )(\d+)")


def export(capsys, manifest: Path, out: Path, *extra: str) -> list[str]:
    main(["export", "--manifest", str(manifest), "--out", str(out), *extra])
    return capsys.readouterr().out.splitlines()


def needed(lines: list[str], told: str) -> int:
    """The number this export needs, from the one summary line that starts with ``told`` (after an
    optional ``warning: ``)."""
    found = [line for line in lines if line.removeprefix("warning: ").startswith(told)]
    assert len(found) == 1, (told, lines)
    return int(NEEDS.search(found[0]).group(1))


def list_lines(path: Path) -> list[str]:
    return list(open(path))  # the loaders' own way: lines with their newline


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    return write_run(root / "run", UCF, crops=10), root


@pytest.fixture(scope="module")
def xd(tmp_path_factory):
    root = tmp_path_factory.mktemp("xd")
    return write_run(root / "run", XD, crops=5, crop_order="centre_first"), root


def test_rtfm_ucf_split_point_puts_exactly_the_anomalous_videos_in_rtfms_abnormal_list(ucf, capsys):
    manifest, root = ucf
    lines = export(capsys, manifest, root / "rtfm")
    n = needed(lines, "RTFM dataset.py reads 810 (lines 47, 51)")
    rtfm_list = list_lines(root / "rtfm" / "train.list")
    abnormal, normal = rtfm_list[:n], rtfm_list[n:]  # dataset.py, --dataset ucf
    stems = lambda part: {Path(line.strip()).name.removesuffix("_enc.npy") for line in part}  # noqa: E731
    assert stems(abnormal) == videos_of([v for v in UCF if v[0] != "test"], anomalous=True)
    assert stems(normal) == videos_of([v for v in UCF if v[0] != "test"], anomalous=False)


def test_rtfm_feature_size_and_crops_are_the_files_d_and_crop_axis(ucf, capsys):
    manifest, root = ucf
    lines = export(capsys, manifest, root / "rtfm_sizes")
    size = needed(lines, "RTFM option.py reads 2048 (line 5)")
    assert needed(lines, "RTFM model.py reads 2048 (lines 137, 143, 146, 181)") == size
    crops = needed(lines, "RTFM model.py reads 10 (lines 214, 217)")
    features = np.load(list_lines(root / "rtfm_sizes" / "test.list")[0].strip('\n'))
    features = features.transpose(1, 0, 2)  # dataset.py: (crops, snippets, D)
    assert (features.shape[0], features.shape[2]) == (crops, size) == (10, DIM)


def test_rtfm_shanghaitech_split_point_is_rtfms_63_counterpart(tmp_path, capsys):
    manifest = write_run(tmp_path / "run", SHANGHAITECH, crops=10)
    lines = export(capsys, manifest, tmp_path / "sh")
    n = needed(lines, "RTFM dataset.py reads 63 (lines 37, 41)")
    rtfm_list = list_lines(tmp_path / "sh" / "train.list")
    assert [Path(line.strip()).name for line in rtfm_list[:n]] == ["01_0014_enc.npy", "01_0015_enc.npy"]
    assert [Path(line.strip()).name for line in rtfm_list[n:]] == ["01_001_enc.npy"]
    assert not any("810" in line for line in lines)  # ShanghaiTech, told by the names: not UCF-Crime's number


def test_mgfn_ucf_split_point_and_feature_size(ucf, capsys):
    manifest, root = ucf
    lines = export(capsys, manifest, root / "mgfn")
    n = needed(lines, "MGFN datasets/dataset.py reads 810 (lines 29, 33)")
    size = needed(lines, "MGFN models/mgfn.py reads 2048 (lines 139, 187, 188)")
    mgfn_list = list_lines(root / "mgfn" / "train.list")
    assert all("Normal" not in line for line in mgfn_list[:n]) and all("Normal" in line for line in mgfn_list[n:])
    features = np.load(mgfn_list[0].strip('\n'))
    magnitude = np.linalg.norm(features, axis=2)[:, :, np.newaxis]  # dataset.py appends |x| as the last channel
    x = np.concatenate((features, magnitude), axis=2)
    np.testing.assert_array_equal(x[:, :, :size], features)  # mgfn.py: x[:, :2048] the features, x[:, 2048:] |x|
    assert x[:, :, size:].shape[2] == 1


def test_urdmu_xd_split_point_separates_urdmus_own_labels(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "urdmu", "--format", "per-crop")
    n = needed(lines, "UR-DMU dataset_loader.py reads 9525 (lines 93, 95)")
    vid_list = [line.split() for line in open(root / "urdmu" / "train.list", encoding="utf-8")]
    label = lambda vid: 0 if "_label_A" in vid[0] else 1  # noqa: E731  (get_data)
    assert [label(vid) for vid in vid_list[:n]] == [1] * n  # is_normal False
    assert [label(vid) for vid in vid_list[n:]] == [0] * (len(vid_list) - n)  # is_normal True
    assert n == 2 * 5  # two violent train videos x five crop files


def test_urdmu_xd_len_feature_and_test_crops_group_each_video(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "urdmu_sizes", "--format", "per-crop")
    len_feature = needed(lines, "UR-DMU xd_main.py reads 1024 (line 27)")
    crops = needed(lines, "UR-DMU xd_test.py reads 5 (line 23)")
    test_list = [line.split()[0] for line in open(root / "urdmu_sizes" / "test.list", encoding="utf-8")]
    for i in range(len(test_list) // crops):  # xd_test.py: one batch of `crops` lines is one video
        batch = test_list[i * crops:(i + 1) * crops]
        assert len({Path(path).name.rsplit("__", 1)[0] for path in batch}) == 1
        assert np.load(batch[0]).shape[1] == len_feature
    assert len(test_list) == crops * 3


def test_urdmu_ucf_split_point_separates_urdmus_own_labels(ucf, capsys):
    manifest, root = ucf
    lines = export(capsys, manifest, root / "urdmu", "--format", "per-crop")
    n = needed(lines, "UR-DMU dataset_loader.py reads 8100 (lines 24, 26)")
    vid_list = [line.split() for line in open(root / "urdmu" / "train.list")]
    label = lambda vid: 0 if "Normal" in vid[0].split("/")[-1] else 1  # noqa: E731  (get_data)
    assert {label(vid) for vid in vid_list[:n]} == {1} and {label(vid) for vid in vid_list[n:]} == {0}
    assert needed(lines, "UR-DMU ucf_test.py reads 10 (line 38)") == 10
    assert needed(lines, "UR-DMU ucf_main.py reads 1024 (line 28)") == np.load(vid_list[0][0]).shape[1]


def test_mgfn_xd_split_point_is_the_crop_file_count(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "mgfn", "--format", "per-crop")
    n = needed(lines, "MGFN datasets/dataset.py reads 9525 (lines 38, 42)")
    mgfn_list = list_lines(root / "mgfn" / "train.list")
    assert all("_label_A" not in line for line in mgfn_list[:n]) and all("_label_A" in line for line in mgfn_list[n:])


def test_vadclip_feature_size_is_the_test_csv_files_d(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "vadclip", "--format", "per-crop")
    size = needed(lines, "VadCLIP src/xd_option.py reads 512 (line 8)")
    test_csv = pd.read_csv(root / "vadclip" / "test.csv")
    assert np.load(test_csv.loc[0]["path"]).shape[1] == size == DIM


def test_xdviodet_feature_size_and_test_batch_of_five_crops(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "xdviodet", "--format", "per-crop")
    size = needed(lines, "XDVioDet option.py reads 1152 (line 18)")
    crops = needed(lines, "XDVioDet main.py reads 5 (line 31)")
    rgb = [line.strip('\n') for line in list_lines(root / "xdviodet" / "test.list")]
    batches = [rgb[i:i + crops] for i in range(0, len(rgb), crops)]  # DataLoader(batch_size=5, shuffle=False)
    assert all(len({Path(path).name.rsplit("__", 1)[0] for path in batch}) == 1 for batch in batches)
    assert np.load(rgb[0]).shape[1] == size  # --modality RGB: the RGB file alone


def test_a_number_that_differs_is_a_warning_naming_the_lines_and_the_edit(ucf, capsys):
    manifest, root = ucf
    lines = export(capsys, manifest, root / "warned", "--format", "per-crop")
    assert ("warning: UR-DMU dataset_loader.py reads 8100 (lines 24, 26): anomalous train crop files for "
            "UCF-Crime; this export needs 30: change them to 30") in lines
    assert ("UR-DMU ucf_test.py reads 10 (line 38): crop files averaged per test video for UCF-Crime; "
            "this export: 10, as published") in lines


def test_a_number_equal_to_the_published_one_is_no_warning():
    entry = HardCoded("UR-DMU", "split", "per-crop", "xd-violence", "dataset_loader.py", (93, 95), 9525,
                      "anomalous train crop files")
    assert entry.line(9525) == ("UR-DMU dataset_loader.py reads 9525 (lines 93, 95): anomalous train crop files "
                                "for XD-Violence; this export: 9525, as published")
    assert entry.line(20) == ("warning: UR-DMU dataset_loader.py reads 9525 (lines 93, 95): anomalous train crop "
                              "files for XD-Violence; this export needs 20: change them to 20")


def test_the_heading_names_the_commit_each_line_number_was_read_at(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "heading", "--format", "per-crop")
    assert ("the methods' hard-coded numbers (their code at MGFN 98e9389, UR-DMU 40cfdf5, VadCLIP f643c91, "
            "XDVioDet f846d8c):") in lines
    assert {entry.method for entry in HARD_CODED} == set(SOURCES)


def test_methods_without_loaders_for_the_dataset_are_not_listed(xd, capsys):
    manifest, root = xd
    lines = export(capsys, manifest, root / "xd_rtfm_format")  # RTFM and MGFN's rtfm-format loaders: no XD-Violence
    assert not [line for line in lines if "hard-coded" in line or " reads " in line]
