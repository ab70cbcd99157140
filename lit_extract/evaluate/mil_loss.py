"""Multiple-instance losses: a video (bag) label supervises the scores of its snippets (instances).

Both losses take ``scores`` (B, T) snippet probabilities in [0, 1] (the sigmoid of the head's
logits), a ``mask`` (B, T) bool that is True on a bag's real snippets and False on padding (a
batch of videos of different lengths is padded to its longest), and ``labels`` (B,) 0/1 video
labels. Padding never enters a loss: it is excluded from every max, top-k, sum and difference.

- :func:`topk_mil_loss`, the default of ``--model.mil_loss``: a bag's score is the mean of its
  ``k`` highest snippet scores, ``k = n // 16 + 1`` for a bag of ``n`` snippets (the rule of the
  XD-Violence authors' ``train.py``, ``topk(logits[:seq_len], k=seq_len // 16 + 1)``, and of
  UR-DMU's loss, ``topk(att, t // 16 + 1)``), trained with binary cross-entropy against the
  video label. Like RTFM and UR-DMU, the mean is taken over probabilities. The length is each
  bag's own (its real snippets), not the padded batch's. On Sultani's 32 segments
  (``--data.segments 32``) k = 3, RTFM's k (``num_segments // 10``).
- :func:`ranking_loss`: Sultani et al.'s (CVPR 2018) MIL ranking loss. For every pair of an
  anomalous bag ``a`` and a normal bag ``n``: ``max(0, 1 - max_i s_a,i + max_i s_n,i)``; for every
  anomalous bag the temporal smoothness ``sum_i (s_a,i - s_a,i+1)^2`` weighted by ``8e-5`` and the
  sparsity ``sum_i s_a,i`` weighted by ``8e-5`` (the weights of the authors'
  ``TrainingAnomalyDetector_public.py``: ``0.00008*T.sum(sub_sum_l1) + 0.00008*T.sum(sub_l2)``, over
  the anomalous videos only). Their code sums the hinge over the anomalous videos and averages it
  over the normal ones, and sums both penalties over the batch's 30 anomalous videos; here every
  term is averaged over the anomalous bags (the authors' loss divided by their number), so the
  loss does not grow with the batch. A batch with no anomalous or no normal bag has no pair: its
  hinge term is 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

TOPK_EVERY = 16  # k = n // 16 + 1: one more selected snippet per 16 snippets of the bag
SMOOTHNESS = 8e-5  # lambda_1 of the ranking loss (the authors' code)
SPARSITY = 8e-5  # lambda_2 of the ranking loss (the authors' code)


def topk_count(lengths: Tensor, every: int = TOPK_EVERY) -> Tensor:
    """``k`` (B,) int64 of bags of ``lengths`` (B,) snippets: ``n // every + 1``, at most ``n``."""
    lengths = lengths.long()
    return torch.minimum(lengths // every + 1, lengths.clamp(min=1))


def topk_bag_scores(scores: Tensor, mask: Tensor, every: int = TOPK_EVERY) -> Tensor:
    """Bag scores (B,): the mean of each bag's ``k`` highest real snippet scores (:func:`topk_count`)."""
    k = topk_count(mask.sum(dim=1), every)  # B
    ordered = scores.masked_fill(~mask, -torch.inf).sort(dim=1, descending=True).values  # B T, padding last
    chosen = torch.arange(scores.shape[1], device=scores.device)[None, :] < k[:, None]  # B T: the first k
    return torch.where(chosen, ordered, 0.0).sum(dim=1) / k


def topk_mil_loss(scores: Tensor, mask: Tensor, labels: Tensor, every: int = TOPK_EVERY) -> Tensor:
    """Mean over bags of the binary cross-entropy of :func:`topk_bag_scores` against ``labels``."""
    return F.binary_cross_entropy(topk_bag_scores(scores, mask, every).clamp(0.0, 1.0), labels.to(scores.dtype))


def ranking_loss(
    scores: Tensor, mask: Tensor, labels: Tensor, smoothness: float = SMOOTHNESS, sparsity: float = SPARSITY
) -> Tensor:
    """Sultani et al.'s MIL ranking loss (see the module docstring), averaged over the anomalous bags.

    ``mean_a [ mean_n max(0, 1 - max s_a + max s_n) + smoothness * sum_i (s_a,i - s_a,i+1)^2
    + sparsity * sum_i s_a,i ]`` with sums over real snippets only; 0 without anomalous bags.
    """
    anomalous, normal = labels.bool(), ~labels.bool()
    if not anomalous.any():
        return scores.sum() * 0.0  # keeps the graph (and the device) for backward
    highest = scores.masked_fill(~mask, -torch.inf).max(dim=1).values  # B
    if normal.any():
        pairs = (1.0 - highest[anomalous][:, None] + highest[normal][None, :]).clamp(min=0.0)  # A N
        hinge = pairs.mean(dim=1)  # A
    else:
        hinge = torch.zeros(int(anomalous.sum()), dtype=scores.dtype, device=scores.device)
    real = torch.where(mask, scores, 0.0)[anomalous]  # A T
    steps = (mask[:, 1:] & mask[:, :-1])[anomalous]  # A T-1: both neighbours real
    smooth = torch.where(steps, (real[:, 1:] - real[:, :-1]) ** 2, 0.0).sum(dim=1)  # A
    sparse = real.sum(dim=1)  # A
    return (hinge + smoothness * smooth + sparsity * sparse).mean()
