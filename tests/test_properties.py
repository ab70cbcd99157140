"""Generated inputs (hypothesis): every case works with correct output or ends in one ``LitExtractError`` line.

The CLI prints a :class:`LitExtractError` as one ``error: ...`` line with exit status 2 (tests/commands/test_cli.py),
so each property calls the library function in-process and asks: the right result, or a one-line
``LitExtractError`` -- never another exception (a traceback). Inputs:

- index CSVs: cell values of every column drawn from valid values and junk (text in number columns,
  out-of-range values, empty cells), dropped and extra columns, duplicate clips, videos in two
  splits, unicode / space / comma paths, files that exist or not. The expected table is computed
  here from the documented rules (lit_extract.indexing.index), independently of the code.
- UCF-Crime annotation files and split lists: lines of drawn fields, blank lines, extra spaces,
  backslashes, bytes that are not UTF-8.
- damaged containers (H.264 with B-frames, and mp4v): random bytes overwritten anywhere in the
  file, or the file cut at a random offset, decoded with PyAV: a clip returned with status 0
  shows exactly its frames (each frame's barcode is its index).

Example counts are kept small for the suite's time; ``HYPOTHESIS_PROFILE=thorough`` runs more.
"""

from __future__ import annotations

import csv
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import read_barcode
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import COLUMNS, INT_COLUMNS, SPLITS, load_index
from lit_extract.indexing.frame_truth import read_annotations
from lit_extract.indexing.scan import ucf_crime_videos
from lit_extract.decode.video import STATUS_OK, STATUS_REPEATED, STATUS_UNREADABLE, VideoOutcome, decode_clip_frames

settings.register_profile("suite", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

VIDEO_NAMES = ["a.mp4", "b c.mp4", "ünï cödé.mp4", "comma,name.mp4", "missing.mp4", "日本.mp4"]


def assert_one_line(exc: BaseException) -> None:
    message = str(exc)
    assert message.strip() and "\n" not in message, repr(message)


# ----------------------------------------------------------------------------- index CSVs
def integers_or_junk(low: int, high: int) -> st.SearchStrategy[str]:
    return st.one_of(st.integers(low, high).map(str), st.integers(low, high).map(lambda v: f"{v}.0"),
                     st.sampled_from(["", "abc", "1.5", "x1", " "]))


@st.composite
def index_rows(draw) -> list[dict[str, str]]:
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        n_frames = draw(st.integers(1, 200))
        start = draw(st.integers(-2, 200))
        row = {
            "split": draw(st.sampled_from([*SPLITS, *SPLITS, "Train", "", "dev"])),
            "y": draw(integers_or_junk(-200, 200) if draw(st.booleans()) else st.sampled_from(["0", "1"])),
            "category": draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)),
            "path": draw(st.sampled_from(VIDEO_NAMES)),
            "clip_idx": draw(integers_or_junk(0, 50)),
            "start_frame": draw(st.one_of(st.just(str(start)), integers_or_junk(-2, 200))),
            "end_frame": str(draw(st.integers(start - 1, start + 40))),
            "clip_len": "32",
            "stride": "16",
            "fps": draw(st.sampled_from(["30", "29.97", "25.0", "abc", ""])),
            "n_frames": draw(st.one_of(st.just(str(n_frames)), integers_or_junk(0, 300))),
        }
        rows.append(row)
    if draw(st.booleans()):  # a duplicate clip
        rows.append(dict(draw(st.sampled_from(rows))))
    return rows


def as_int(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if np.isfinite(number) and number == round(number) else None


def expected_index(rows: list[dict[str, str]], columns: list[str], folder: Path) -> list[dict] | None:
    """The table load_index must return (paths resolved, numbers parsed), or None when the rules reject it."""
    if any(column not in columns for column in COLUMNS):
        return None
    table = []
    for row in rows:
        if any(row[c].strip() == "" for c in ("split", "category", "path")):
            return None
        parsed = {c: as_int(row[c]) for c in INT_COLUMNS}
        if any(v is None for v in parsed.values()):
            return None
        try:
            fps = float(row["fps"])
        except ValueError:
            return None
        if row["split"] not in SPLITS or not -128 <= parsed["y"] <= 127:
            return None
        if parsed["start_frame"] < 0 or parsed["end_frame"] <= parsed["start_frame"] or parsed["end_frame"] > parsed["n_frames"]:
            return None
        table.append({**row, **parsed, "fps": fps, "path": str((folder / row["path"]).resolve())})
    clips = [(r["path"], r["start_frame"], r["end_frame"]) for r in table]
    if len(set(clips)) != len(clips):
        return None
    splits_of: dict[str, set[str]] = {}
    for r in table:
        splits_of.setdefault(r["path"], set()).add(r["split"])
    if any(len(s) > 1 for s in splits_of.values()):
        return None
    if any(not Path(r["path"]).is_file() for r in table):
        return None
    return [{c: r[c] for c in COLUMNS} for r in table]


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("index_fuzz")
    for name in VIDEO_NAMES:
        if name != "missing.mp4":
            (folder / name).write_bytes(b"")  # load_index checks existence only
    return folder


@given(rows=index_rows(), drop=st.sets(st.sampled_from(COLUMNS), max_size=2), extra=st.booleans(),
       ordering=st.permutations(COLUMNS))
def test_generated_index_csv_loads_exactly_or_is_refused_in_one_line(video_folder, rows, drop, extra, ordering):
    columns = [c for c in ordering if c not in drop] + (["note"] * extra)
    handle, name = tempfile.mkstemp(suffix=".csv", dir=video_folder)
    with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows([{**row, "note": "x"} for row in rows])
    expected = expected_index(rows, columns, video_folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an extra column only warns
            loaded = load_index(name)
    except LitExtractError as exc:
        assert expected is None, f"refused a valid index: {exc}"
        assert_one_line(exc)
        return
    finally:
        os.unlink(name)
    assert expected is not None, "accepted an index the rules reject"
    assert loaded.to_dict("records") == expected


# ----------------------------------------------------------------------------- annotation files
FIELD = st.one_of(st.sampled_from(["Arson011_x264.mp4", "Normal_Videos_003_x264.mp4", "Arson", "Normal", "-1"]),
                  st.integers(-5, 20000).map(str), st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=5))


@st.composite
def annotation_bytes(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        fields = draw(st.lists(FIELD, min_size=0, max_size=8))
        lines.append(draw(st.sampled_from([" ", "  ", "\t"])).join(fields) + draw(st.sampled_from(["", " ", "  "])))
    data = "\n".join(lines).encode("utf-8")
    if draw(st.booleans()):
        data += draw(st.sampled_from([b"\xff\xfe", b"\x80abc", b"\n\xc3"]))  # not UTF-8
    return data


def expected_annotations(data: bytes) -> dict | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    result = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        bounds = [as_strict_int(v) for v in fields[2:6]]
        if len(bounds) != 4 or None in bounds:
            return None
        result[Path(fields[0]).stem] = [(s, e) for s, e in (bounds[:2], bounds[2:]) if s >= 0 and e >= 0]
    return result


def as_strict_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@given(data=annotation_bytes())
def test_generated_annotation_file_parses_exactly_or_is_refused_in_one_line(tmp_path, data):
    path = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    path.write_bytes(data)
    expected = expected_annotations(data)
    try:
        parsed = read_annotations(path)
    except LitExtractError as exc:
        assert expected is None, f"refused a valid file: {exc}"
        assert_one_line(exc)
        return
    assert parsed == expected


# ----------------------------------------------------------------------------- UCF-Crime split lists
@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ucf")
    for relative in ("Arson/Arson011_x264.mp4", "Normal/Normal_Videos_003_x264.mp4", "Abuse/Abuse 001 ü.mp4"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")
    return root


LIST_ENTRY = st.sampled_from(["Arson/Arson011_x264.mp4", "Arson\\Arson011_x264.mp4", "Normal/Normal_Videos_003_x264.mp4",
                              "Abuse/Abuse 001 ü.mp4", "Missing/Missing001_x264.mp4", "", "  ", "Arson011_x264.mp4"])


@given(train=st.lists(LIST_ENTRY, max_size=4), test=st.lists(LIST_ENTRY, max_size=4), garbage=st.booleans())
def test_generated_split_lists_give_the_listed_videos_or_one_line(ucf_root, tmp_path, train, test, garbage):
    lists = tmp_path / "lists"
    lists.mkdir(exist_ok=True)
    (lists / "Anomaly_Train.txt").write_bytes("\n".join(train).encode("utf-8") + (b"\xff" if garbage else b""))
    (lists / "Anomaly_Test.txt").write_text("\n".join(test), encoding="utf-8")
    try:
        videos = ucf_crime_videos(ucf_root, lists)
    except LitExtractError as exc:
        assert_one_line(exc)
        return
    assert not garbage, "a list that is not UTF-8 was read"
    listed = {split: {Path(e.strip().replace("\\", "/")).name for e in entries if e.strip()}
              for split, entries in (("train", train), ("test", test))}
    for video in videos:
        assert video.path.is_file() and video.path.name in listed[video.split]
    assert {(v.split, v.path.name) for v in videos} == {(s, n) for s, names in listed.items() for n in names}


# ----------------------------------------------------------------------------- damaged containers
N_FRAMES = 96
CLIPS = [s + np.linspace(0, 31, 8).round().astype(np.int64) for s in range(0, N_FRAMES - 32 + 1, 16)]


def packet_layout(path: Path) -> list[tuple[int, int, int, bool]]:
    """``(byte offset, size, frame id, keyframe)`` of each video packet of a clean file, in file order."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        return [(packet.pos, packet.size, int(round(float(packet.pts * stream.time_base * rate))), packet.is_keyframe)
                for packet in container.demux(stream) if packet.size and packet.pts is not None]


def frames_of_damaged_gops(layout: list[tuple[int, int, int, bool]], first: int, end: int) -> set[int]:
    """Frame ids of the GOPs (keyframe to keyframe) whose packets hold bytes ``first..end-1``.

    A byte changed inside a frame's data can change that frame's pixels (and those of the frames
    predicted from it) without any error a decoder could notice: those frames' content is damaged,
    not their identity. Every other frame must come out exact.
    """
    keyframes = sorted(frame for _, _, frame, key in layout if key)
    hit = [frame for pos, size, frame, _ in layout if pos < end and first < pos + size]
    gops = set()
    for frame in hit:
        start = max(k for k in keyframes if k <= frame)
        stop = min([k for k in keyframes if k > start] + [N_FRAMES])
        gops.update(range(start, stop))
    return gops


@pytest.fixture(scope="module")
def clean_containers(tmp_path_factory) -> dict[str, tuple[bytes, list]]:
    root = tmp_path_factory.mktemp("containers")
    made = {}
    for codec in ("h264", "mp4v"):
        path = write_video(root / f"{codec}.mp4", (barcode_frame(k, 160, 120, "Normal", 5) for k in range(N_FRAMES)), codec=codec)
        made[codec] = (path.read_bytes(), packet_layout(path))
    return made


@st.composite
def damage(draw, size: int) -> tuple[str, int, bytes]:
    kind = draw(st.sampled_from(["overwrite", "truncate"]))
    offset = draw(st.integers(0, size - 1))
    junk = draw(st.binary(min_size=1, max_size=64)) if kind == "overwrite" else b""
    return kind, offset, junk


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
@settings(max_examples=15)
@given(data=st.data())
def test_damaged_container_never_returns_a_frame_other_than_the_one_it_claims(clean_containers, tmp_path, codec, data):
    clean, layout = clean_containers[codec]
    kind, offset, junk = data.draw(damage(len(clean)))
    damaged = clean[:offset] if kind == "truncate" else clean[:offset] + junk + clean[offset + len(junk):]
    assume(damaged != clean)
    damaged_pixels = frames_of_damaged_gops(layout, offset, offset + len(junk) if junk else len(clean))
    path = tmp_path / f"damaged_{codec}.mp4"
    path.write_bytes(damaged)
    outcome = VideoOutcome(str(path))
    try:
        clips = {i: (frames, status) for i, frames, status in
                 decode_clip_frames(str(path), CLIPS, 32, "pyav", outcome, native=True)}
    except LitExtractError as exc:
        assert_one_line(exc)
        return
    assert sorted(clips) == list(range(len(CLIPS)))  # every clip comes out, with a status
    for i, frame_ids in enumerate(CLIPS):
        frames, status = clips[i]
        if status == STATUS_UNREADABLE:
            assert not any(frame.any() for frame in frames)
            continue
        assert status in (STATUS_OK, STATUS_REPEATED)
        shown = [read_barcode(np.ascontiguousarray(frame[:, :, ::-1])) if frame.shape[:2] == (120, 160) else -1
                 for frame in frames]
        last_good = None
        for k, seen in zip(frame_ids.tolist(), shown):
            if k in damaged_pixels:  # its own frame with damaged pixels, or a repeat: not checkable by its barcode
                last_good = None
                continue
            if status == STATUS_OK or seen == k:
                assert seen == k, (kind, offset, i, shown)
                last_good = k
            else:  # status 1: a frame that is not its own repeats the last one that was
                assert last_good is None or seen == last_good, (kind, offset, i, shown)
