"""The multiple-instance losses against the papers' formulas, written out here on hand-made bags.

Top-k MIL (XD-Violence authors' ``train.py`` and UR-DMU's loss): a bag of n snippets scores the
mean of its k = n // 16 + 1 highest snippet scores; the loss is the binary cross-entropy of that
score with the video label, averaged over the bags. Sultani et al.'s ranking loss (CVPR 2018, the
authors' ``TrainingAnomalyDetector_public.py``): per (anomalous a, normal n) pair
max(0, 1 - max s_a + max s_n), plus 8e-5 sum_i (s_a,i - s_a,i+1)^2 and 8e-5 sum_i s_a,i per
anomalous bag; averaged here over the anomalous bags. Padding (the tail of a shorter bag) must
change nothing: every padded test puts large values there.
"""

from __future__ import annotations

import math

import pytest
import torch

from lit_extract.evaluate.mil_loss import ranking_loss, topk_bag_scores, topk_count, topk_mil_loss


def padded(bags: list[list[float]], fill: float = 0.99) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores (B, T), mask (B, T))`` of ``bags``, each padded to the longest with ``fill``."""
    longest = max(len(bag) for bag in bags)
    scores = torch.tensor([bag + [fill] * (longest - len(bag)) for bag in bags], dtype=torch.float64)
    mask = torch.tensor([[True] * len(bag) + [False] * (longest - len(bag)) for bag in bags])
    return scores, mask


def bce(p: float, y: int) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_k_is_one_more_per_16_snippets():
    # n // 16 + 1: 1..15 snippets -> 1, 16..31 -> 2, 32 -> 3, 200 -> 13 (UR-DMU: t // 16 + 1)
    assert topk_count(torch.tensor([1, 15, 16, 31, 32, 200])).tolist() == [1, 1, 2, 2, 3, 13]


def test_topk_bag_score_is_the_mean_of_the_k_highest_real_snippets():
    # Bag 0: 17 snippets, k = 2: the two highest are 0.9 and 0.8. Bag 1: 3 snippets (then padding
    # at 0.99), k = 1: 0.6. Bag 2: 33 snippets, k = 3: 0.7, 0.5, 0.4.
    bag0 = [0.1] * 15 + [0.9, 0.8]
    bag1 = [0.2, 0.6, 0.3]
    bag2 = [0.05] * 30 + [0.4, 0.7, 0.5]
    scores, mask = padded([bag0, bag1, bag2])
    expected = [(0.9 + 0.8) / 2, 0.6, (0.7 + 0.5 + 0.4) / 3]
    torch.testing.assert_close(topk_bag_scores(scores, mask), torch.tensor(expected, dtype=torch.float64))


def test_topk_loss_is_the_mean_bce_of_the_topk_scores_with_the_video_labels():
    bag0 = [0.1] * 15 + [0.9, 0.8]  # anomalous, k = 2
    bag1 = [0.2, 0.6, 0.3]  # normal, k = 1
    bag2 = [0.05] * 30 + [0.4, 0.7, 0.5]  # anomalous, k = 3
    scores, mask = padded([bag0, bag1, bag2])
    expected = (bce(0.85, 1) + bce(0.6, 0) + bce(1.6 / 3, 1)) / 3
    loss = topk_mil_loss(scores, mask, torch.tensor([1, 0, 1]))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_topk_loss_ignores_what_the_padding_holds():
    scores, mask = padded([[0.3, 0.2], [0.1, 0.4, 0.5, 0.6]], fill=0.0)
    other = scores.clone()
    other[~mask] = 1.0
    labels = torch.tensor([1, 0])
    assert topk_mil_loss(scores, mask, labels).item() == topk_mil_loss(other, mask, labels).item()
    assert topk_mil_loss(scores, mask, labels).item() == pytest.approx((bce(0.3, 1) + bce(0.6, 0)) / 2)


def test_topk_loss_gradient_reaches_only_the_selected_snippets():
    scores, mask = padded([[0.3, 0.2, 0.7]])
    scores.requires_grad_(True)
    topk_mil_loss(scores, mask, torch.tensor([1])).backward()
    # d/ds of -log(s) at the one selected snippet (0.7): -1/0.7; nothing elsewhere
    torch.testing.assert_close(scores.grad, torch.tensor([[0.0, 0.0, -1 / 0.7]], dtype=torch.float64))


def sultani(bags: list[list[float]], labels: list[int], lam1: float = 8e-5, lam2: float = 8e-5) -> float:
    """The ranking loss, written from the paper: per anomalous bag, the mean hinge over the normal
    bags plus lam1 x smoothness plus lam2 x sparsity; averaged over the anomalous bags."""
    anomalous = [bag for bag, y in zip(bags, labels) if y == 1]
    normal = [bag for bag, y in zip(bags, labels) if y == 0]
    total = 0.0
    for a in anomalous:
        hinge = sum(max(0.0, 1 - max(a) + max(n)) for n in normal) / len(normal) if normal else 0.0
        smooth = sum((a[i] - a[i + 1]) ** 2 for i in range(len(a) - 1))
        total += hinge + lam1 * smooth + lam2 * sum(a)
    return total / len(anomalous)


def test_ranking_loss_matches_the_papers_formula_on_padded_bags_of_different_lengths():
    bags = [[0.1, 0.9, 0.2, 0.3], [0.4, 0.35], [0.2, 0.25, 0.1, 0.05, 0.3], [0.6, 0.7, 0.1]]
    labels = [1, 0, 0, 1]
    scores, mask = padded(bags)
    got = ranking_loss(scores, mask, torch.tensor(labels))
    # by hand: bag 0 hinges 1-.9+.4 = .5 and 1-.9+.3 = .4 (mean .45), smooth .64+.49+.01 = 1.14,
    # sparse 1.5; bag 3 hinges .7 and .6 (mean .65), smooth .01+.36 = .37, sparse 1.4
    by_hand = ((0.45 + 8e-5 * 1.14 + 8e-5 * 1.5) + (0.65 + 8e-5 * 0.37 + 8e-5 * 1.4)) / 2
    assert sultani(bags, labels) == pytest.approx(by_hand, rel=1e-12)
    assert got.item() == pytest.approx(by_hand, rel=1e-12)


def test_ranking_loss_weights_are_the_published_8e_5_and_can_be_changed():
    bags = [[0.2, 0.9, 0.1], [0.3, 0.2]]
    scores, mask = padded(bags)
    labels = torch.tensor([1, 0])
    assert ranking_loss(scores, mask, labels).item() == pytest.approx(sultani(bags, [1, 0]), rel=1e-12)
    assert ranking_loss(scores, mask, labels, smoothness=0.5, sparsity=0.25).item() == pytest.approx(
        sultani(bags, [1, 0], 0.5, 0.25), rel=1e-12)


def test_ranking_loss_ignores_what_the_padding_holds():
    bags = [[0.2, 0.9], [0.3, 0.1, 0.2, 0.4]]
    low, mask = padded(bags, fill=0.0)
    high, _ = padded(bags, fill=1.0)
    labels = torch.tensor([1, 0])
    assert ranking_loss(low, mask, labels).item() == ranking_loss(high, mask, labels).item()
    assert ranking_loss(low, mask, labels).item() == pytest.approx(sultani(bags, [1, 0]), rel=1e-12)


def test_ranking_loss_without_a_normal_bag_keeps_only_the_penalties():
    bags = [[0.2, 0.9], [0.5]]
    scores, mask = padded(bags)
    assert ranking_loss(scores, mask, torch.tensor([1, 1])).item() == pytest.approx(sultani(bags, [1, 1]), rel=1e-12)
