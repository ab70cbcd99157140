"""A recipe's exported features against a published extractor's, on the same videos and weights.

    python benchmarks/recipe_features.py features/rtfm_i3d reference/ --suffix _i3d_r50 --reference-suffix _i3res50

Reads every ``<stem><suffix>.npy`` of the first folder (``python -m lit_extract export --format
rtfm`` output: (snippets, crops, D) float32 per video) and ``<stem><reference-suffix>.npy`` of
the second (the extractor's own files, e.g. RTFM's ``<video>_i3d.npy``: (snippets, crops, D)), for
the stems both hold, and prints:

- per crop index: the cosine similarity of lit_extract's feature and the reference's for the same
  (video, snippet, crop): mean and minimum over snippets;
- nearest neighbour: for each lit_extract (video, snippet, crop) feature, whether the most
  cosine-similar of all reference features (every video, snippet and crop) is its own
  (share of features), and the same asking only for the right (video, snippet) whatever the crop.

Snippet counts must agree per video (a different frame count shows here first). Making the
reference needs the extractor, its weights and the same videos: run it outside the project (the
extractor writes JPEGs with the ffmpeg CLI and resizes with PIL), then give lit_extract the same
weights file (``--model.weights``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def load_pairs(ours: Path, reference: Path, suffix: str, reference_suffix: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """stem -> (ours, reference), both float64 (snippets, crops, D), for the stems both folders hold."""
    pairs = {}
    for path in sorted(ours.glob(f"*{suffix}.npy")):
        stem = path.name[: -len(f"{suffix}.npy")]
        other = reference / f"{stem}{reference_suffix}.npy"
        if not other.is_file():
            continue
        a, b = np.load(path).astype(np.float64), np.load(other).astype(np.float64)
        if a.shape != b.shape:
            raise SystemExit(f"error: {stem}: lit_extract {a.shape} against the reference's {b.shape}; "
                             "same snippets, crops and width needed")
        pairs[stem] = (a, b)
    if not pairs:
        raise SystemExit(f"error: no <stem>{suffix}.npy in {ours} has a <stem>{reference_suffix}.npy in {reference}")
    return pairs


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def compare(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    """Per-crop cosine (mean, min) and the nearest-neighbour shares (see the module docstring)."""
    ours = np.concatenate([a for a, _ in pairs.values()])  # N crops D
    reference = np.concatenate([b for _, b in pairs.values()])
    cosine = (unit(ours) * unit(reference)).sum(-1)  # N crops
    n, crops = cosine.shape
    flat_ours, flat_reference = unit(ours).reshape(n * crops, -1), unit(reference).reshape(n * crops, -1)
    nearest = (flat_ours @ flat_reference.T).argmax(axis=1)  # index into (snippet, crop), row-major
    own = np.arange(n * crops)
    return {
        "snippets": n, "crops": crops,
        "cosine_mean": cosine.mean(axis=0), "cosine_min": cosine.min(axis=0),
        "nearest_is_own": float(np.mean(nearest == own)),
        "nearest_is_own_snippet": float(np.mean(nearest // crops == own // crops)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ours", type=Path, help="lit_extract export folder")
    parser.add_argument("reference", type=Path, help="the extractor's feature folder")
    parser.add_argument("--suffix", required=True, help="file suffix of lit_extract's files, e.g. _i3d_r50")
    parser.add_argument("--reference-suffix", default="_i3d", help="file suffix of the reference's files")
    args = parser.parse_args()
    pairs = load_pairs(args.ours, args.reference, args.suffix, args.reference_suffix)
    result = compare(pairs)
    print(f"{len(pairs)} videos, {result['snippets']} snippets x {result['crops']} crops")
    print(f"{'crop':>6}  {'cosine mean':>11}  {'cosine min':>10}")
    for c in range(result["crops"]):
        print(f"{c:>6}  {result['cosine_mean'][c]:11.4f}  {result['cosine_min'][c]:10.4f}")
    print(f"nearest reference feature is its own (snippet, crop): {result['nearest_is_own']:.1%}; "
          f"its own snippet (any crop): {result['nearest_is_own_snippet']:.1%}")


if __name__ == "__main__":
    main()
