"""What ``index`` says about the val split it made: videos and clips per category, and when the
fraction leaves a category (or the whole split) without a val video, the fraction that would not.

:func:`lit_extract.indexing.scan.assign_val` gives each category with ``n`` train videos
``min(round_half_up(n * fraction), n - 1)`` val videos, so a category gets one as soon as
``n * fraction >= 0.5`` and ``n >= 2``: the smallest fraction giving every category of two or more
videos one val video is ``0.5 / (fewest videos of such a category)``, rounded up to 2 decimals.
A category of a single train video never gives one (its only video stays in train).
"""

from __future__ import annotations

import math

import pandas as pd

from lit_extract.errors import first_few


def val_videos_per_category(index: pd.DataFrame) -> pd.DataFrame:
    """Per category of the train and val videos: ``videos`` (train + val), ``val_videos``, ``val_clips``."""
    pool = index[index["split"].isin(["train", "val"])]
    videos = pool.drop_duplicates("path")
    val = pool[pool["split"] == "val"]
    table = pd.DataFrame({
        "videos": videos.groupby("category").size(),
        "val_videos": val.drop_duplicates("path").groupby("category").size(),
        "val_clips": val.groupby("category").size(),
    })
    return table.fillna(0).astype("int64").sort_index()


def fraction_for_one_each(videos: pd.Series) -> float | None:
    """The smallest ``--val-fraction`` (2 decimals) giving each category of ``videos`` (train videos
    per category) that has two or more a val video; ``None`` when none has two."""
    eligible = videos[videos >= 2]
    if eligible.empty:
        return None
    return math.ceil(round(100 * 0.5 / int(eligible.min()), 9)) / 100


def val_split_report(index: pd.DataFrame, val_fraction: float, *, from_input: bool) -> tuple[str, str | None]:
    """``(the statement line, a note line or None)`` about ``index``'s val split.

    The statement gives the val videos and clips, in all and per category. The note (only when
    the val split was drawn with a positive ``val_fraction``) says which categories, or that the
    whole split, got no val video, and the fraction that would give one to each.
    """
    table = val_videos_per_category(index)
    total_videos, total_clips = int(table["val_videos"].sum()), int(table["val_clips"].sum())
    how = "from the input" if from_input else f"--val-fraction {val_fraction} of each category's train videos"
    if from_input or val_fraction > 0:
        per_category = ", ".join(f"{name} {row.val_videos} ({row.val_clips} clips)" for name, row in table.iterrows())
        statement = f"val split ({how}): {total_videos} videos, {total_clips} clips; per category: {per_category}"
    else:
        statement = "val split: none (--val-fraction 0); predict extracts the other splits"
    if from_input or val_fraction <= 0:
        return statement, None
    empty = table[table["val_videos"] == 0]
    if empty.empty:
        return statement, None
    singles = sorted(table.index[table["videos"] < 2])
    fix = fraction_advice(table, empty, singles)
    if total_videos == 0:
        return statement, (f"note: --val-fraction {val_fraction} makes no val split (categories have "
                           f"{int(table['videos'].min())}-{int(table['videos'].max())} train videos); {fix}; "
                           "without one, predict extracts train and test only")
    return statement, (f"note: --val-fraction {val_fraction} leaves {len(empty)} of {len(table)} categories without a "
                       f"val video ({first_few(list(empty.index), 3)}); {fix}")


def fraction_advice(table: pd.DataFrame, empty: pd.DataFrame, singles: list[str]) -> str:
    """What would give the ``empty`` categories a val video: the smallest fraction that gives one to
    each category of two or more (always above the fraction given, since such a category of
    ``empty`` got none), or, when every empty category has a single train video, that none can."""
    if (empty["videos"] < 2).all():
        which = "it has" if len(empty) == 1 else "each has"
        return (f"{which} a single train video, kept in train, so no --val-fraction gives "
                f"{'it' if len(empty) == 1 else 'them'} one: add videos or give a val split")
    fix = f"--val-fraction {fraction_for_one_each(table['videos']):g} gives one to each category"
    if singles:
        fix += f" with two or more videos ({first_few(singles, 3)}: a single train video, kept in train)"
    return fix
