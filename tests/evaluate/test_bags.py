"""Video bags: each video's rows in clip order, padded batches with a mask, Sultani's 32-segment rule.

Expected values are built by hand in each test. The segment rule is the authors' MATLAB
(``Save_C3DFeatures_32Segments.m``): ``b = round(linspace(1, n, 33))`` (halves away from zero);
segment i = rows b(i) .. b(i+1)-1, or row b(i) alone when that range is empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lit_extract.evaluate.bags import VideoBags, pad_bags, resample, segment_bounds, video_rows


def test_video_rows_group_each_video_in_clip_order_videos_in_first_appearance():
    rows = pd.DataFrame({"path": ["b.mp4", "a.mp4", "b.mp4", "a.mp4", "b.mp4"],
                         "start_frame": [32, 16, 0, 0, 16]})
    groups = video_rows(rows)
    assert [g.tolist() for g in groups] == [[2, 4, 0], [3, 1]]


def test_resampling_follows_the_authors_rounding_halves_away_from_zero():
    # n = 3, 4 segments: linspace(1, 3, 5) = 1, 1.5, 2, 2.5, 3 -> 1, 2, 2, 3, 3 (MATLAB round).
    # Segments (1-based): 1..1; 2..1 empty -> row 2; 2..2; 3..2 empty -> row 3. 0-based rows 0, 1, 1, 2.
    x = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 3.0]])
    np.testing.assert_array_equal(segment_bounds(3, 4), [0, 1, 1, 2, 2])
    np.testing.assert_allclose(resample(x, 4), x[[0, 1, 1, 2]])


def test_resampling_averages_each_segment_and_leaves_the_last_row_out():
    # n = 10, 4 segments: linspace(1, 10, 5) = 1, 3.25, 5.5, 7.75, 10 -> 1, 3, 6, 8, 10; segments
    # (1-based) 1..2, 3..5, 6..7, 8..9: 0-based [0, 1], [2, 3, 4], [5, 6], [7, 8]; row 9 is in none.
    x = np.arange(10, dtype=np.float64)[:, None] ** 2  # 10 x 1
    expected = [[(0 + 1) / 2], [(4 + 9 + 16) / 3], [(25 + 36) / 2], [(49 + 64) / 2]]
    np.testing.assert_allclose(resample(x, 4), expected)


def test_pad_bags_pads_shorter_bags_with_a_false_mask_and_row_minus_one():
    items = [(np.ones((2, 3), np.float32), 1, np.array([5, 6])), (np.full((4, 3), 2.0, np.float32), 0, np.arange(4))]
    batch = pad_bags(items)
    assert batch.x.shape == (2, 4, 3)
    assert batch.mask.tolist() == [[True, True, False, False], [True] * 4]
    assert batch.rows.tolist() == [[5, 6, -1, -1], [0, 1, 2, 3]]
    assert batch.labels.tolist() == [1, 0]
    torch.testing.assert_close(batch.x[0, 2:], torch.zeros(2, 3))
    torch.testing.assert_close(batch.x[1], torch.full((4, 3), 2.0))


def ten_crop_split() -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Two videos (3 and 2 rows) of 2-crop, 2-D embeddings; labels 1 and 0."""
    x = np.arange(5 * 2 * 2, dtype=np.float64).reshape(5, 2, 2)
    return x, [np.array([0, 1, 2]), np.array([3, 4])], np.array([1, 1, 1, 0, 0])


def test_a_bag_is_its_videos_standardized_crop_means():
    x, videos, labels = ten_crop_split()
    mean, std = np.array([1.0, 2.0]), np.array([2.0, 4.0])
    bags = VideoBags(x, videos, labels, mean, std, crops="mean")
    assert len(bags) == 2
    bag, label, rows = bags[1]
    np.testing.assert_allclose(bag, (x[[3, 4]].mean(axis=1) - mean) / std, rtol=1e-6)
    assert label == 0 and rows.tolist() == [3, 4]


def test_each_crop_is_a_bag_of_its_own():
    x, videos, labels = ten_crop_split()
    bags = VideoBags(x, videos, labels, np.zeros(2), np.ones(2), crops="each")
    assert len(bags) == 4  # 2 videos x 2 crops
    for item, (video, crop) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        bag, label, rows = bags[item]
        np.testing.assert_allclose(bag, x[videos[video], crop])
        assert label == [1, 0][video] and rows.tolist() == videos[video].tolist()


def test_resampled_bags_have_the_segment_count_and_no_rows():
    x = np.random.default_rng(0).normal(size=(40, 3))
    bags = VideoBags(x, [np.arange(40)], np.ones(40, np.int64), np.zeros(3), np.ones(3), segments=32)
    bag, _, rows = bags[0]
    assert bag.shape == (32, 3) and (rows == -1).all()
    # linspace(1, 40, 33) step 39/32 = 1.21875: the first bounds 1, 2.22 -> 2, ...: segment 1 = row 1 alone
    np.testing.assert_allclose(bag[0], x[0], rtol=1e-6)
