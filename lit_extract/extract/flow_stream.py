"""The flow stream of a pass: optical flow from each batch's frames, flips, the flow encoders.

With a flow encoder in ``--model.encoder`` (``i3d_inception_flow``) every row is decoded with one
frame more than ``--data.frames``: its T sampled frames and the next one, one sampling step
after its last (:func:`lit_extract.decode.video.next_frame_ids`), so that its flow clip has T
flows, flow t from frame t to frame t + 1 -- video_features' convention (a stack of T + 1 frames
gives T flows). Video encoders see the first T frames, exactly the clips of a run without flow.
A row that ends the video has no next frame: its last frame is repeated, so its last flow is that
of a still frame; ``export`` leaves these rows out of the flow files (XD-Violence's flow files hold
one row fewer than the RGB files exactly for videos whose last snippet ends the video).

:class:`FlowStream` holds the run's flow model (``--model.flow``, :mod:`lit_extract.encoders.optical_flow`)
and computes the flows of a batch once, for every flow encoder, on the device, a chunk of frame
pairs at a time: a batch holds its frames and its flows, never more of a video.

Flips (``--model.flow_flip``, ten crops only: crops 5-9 are cut from the mirrored frames,
:mod:`lit_extract.decode.crops`). A mirrored flow field is not a mirrored image: a pattern moving
right by u moves left in the mirrored video, so the mirrored field's x is -u.

- ``physical`` (default): each crop's flow as measured on that crop's frames; a mirrored crop's
  frames are mirrored, so its x is the physically right -u.
- ``mirrored_images``: what the published ten-crop extractors fed (flow computed on the frames,
  stored as images, the images mirrored): a mirrored crop's x keeps the sign of the unmirrored
  video's, +u; here the measured x of crops 5-9 negated.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lit_extract.encoders import build_flow_encoder
from lit_extract.encoders.optical_flow import PAIRS_PER_CHUNK, build_flow, flow_clips
from lit_extract.errors import LitExtractError

FlowFlip = Literal["physical", "mirrored_images"]
FLOW_FLIPS = ("physical", "mirrored_images")
TEN_CROPS, MIRRORED = 10, slice(5, 10)  # ten crops: crops 5-9 come from the mirrored frame




class FlowStream(nn.Module):
    """The run's flow model and flip: (B, [crops,] 3, T + 1, H, W) frames in [0, 255] -> float32
    (B * crops, 2, T, H, W) flows in pixels, crops in the batch's order (module doc)."""

    def __init__(self, flow: nn.Module, flip: FlowFlip = "physical", chunk: int = PAIRS_PER_CHUNK,
                 identity: dict[str, object] | None = None) -> None:
        super().__init__()
        if flip not in FLOW_FLIPS:
            raise LitExtractError(f"--model.flow_flip {flip!r}: choose {', '.join(FLOW_FLIPS)}")
        self.flow, self.flip, self.chunk = flow, flip, chunk
        self.identity = dict(identity or {})

    def describe(self) -> dict[str, object]:
        """What makes the flows: the model, its weights and updates, the flip (for the run record)."""
        return {**self.identity, "flip": self.flip}

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        crops = clips.shape[1] if clips.ndim == 6 else 1
        flows = flow_clips(clips.flatten(0, 1) if clips.ndim == 6 else clips, self.flow, self.chunk)  # B*crops 2 T H W
        if self.flip == "mirrored_images" and crops == TEN_CROPS:
            flows = flows.unflatten(0, (-1, crops))  # B crops 2 T H W
            flows[:, MIRRORED, 0] = -flows[:, MIRRORED, 0]
            flows = flows.flatten(0, 1)
        return flows


def build_flow_stream(flow: str, weights: str, updates: int, flip: FlowFlip) -> FlowStream:
    """``--model.flow``, ``--model.flow_weights``, ``--model.flow_updates``, ``--model.flow_flip`` ->
    the run's frozen :class:`FlowStream` (flip checked before any weights load)."""
    if flip not in FLOW_FLIPS:
        raise LitExtractError(f"--model.flow_flip {flip!r}: choose {', '.join(FLOW_FLIPS)}")
    identity = {"model": flow, "weights": str(weights), "updates": int(updates)}
    return FlowStream(build_flow(flow, weights, updates), flip, identity=identity)


class FlowMember(nn.Module):
    """One frozen flow encoder and its input: flow in pixels -> its family's input
    (``i3d_inception_flow``: clipped to [-20, 20], optionally 8-bit quantized, scaled to [-1, 1])
    -> float32 (N, D)."""

    def __init__(self, name: str, weights: str, frames: int, img_size: int, quantize: bool = False) -> None:
        super().__init__()
        built = build_flow_encoder(name, weights=weights, frames=frames, img_size=img_size)
        self.name, self.weights, self.quantize = name, weights, quantize
        self.embedding_dim, self.prepare, self.encoder = built.embedding_dim, built.prepare, built.module

    def embed(self, flows: torch.Tensor) -> torch.Tensor:
        """float32 (N, 2, T, H, W) flow in pixels -> float32 (N, D)."""
        return self.encoder(self.prepare(flows, self.quantize))
