"""VGGish (AudioSet), the audio features of XD-Violence: the ``vggish`` audio encoder.

Google's VGGish as ported to PyTorch by ``harritaylor/torchvggish`` (``vggish.py``), whose
``vggish-10086976.pth`` loads here unchanged (same names and shapes: ``features.0`` ...
``features.13``, ``embeddings.0/2/4``), and the AudioSet postprocessing with the PCA parameters
of either release (torchvggish's ``vggish_pca_params-970ea276.pth`` or the TensorFlow release's
``vggish_pca_params.npz``: ``pca_eigen_vectors`` (128, 128), ``pca_means`` (128,)).

Input: one 0.96 s *example* = 15,600 samples of 16 kHz mono sound (float32, [-1, 1]), turned
into the 96 x 64 log-mel patch of torchvggish's ``vggish_input.py`` / ``mel_features.py``
(:class:`LogMel`): 25 ms periodic-Hann windows every 10 ms (400 / 160 samples, 96 of them),
|rfft| over 512 points, 64 HTK-mel bands from 125 to 7,500 Hz (the DC bin weighted 0),
``log(mel + 0.01)``.

Network (B, 1, 96, 64) -> (B, 128): six 3x3 convolutions with ReLU (64, M, 128, M, 256, 256, M,
512, 512, M; M = 2x2 max pool) leave (B, 512, 6, 4), flattened in (time, band, channel) order
(TensorFlow's), then 12288 -> 4096 -> 4096 -> 128, ReLU after each (as torchvggish).

Postprocessing (``--model.audio_postprocess``, off by default): ``PCA (e - means)``, clipped
to [-2, 2] and quantized to 0..255 (as floats), what the AudioSet release and torchvggish's
``Postprocessor`` output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lit_extract.encoders.spec import AudioEncoderSpec, SoundInput, WeightsUnavailable, weights_choice
from lit_extract.encoders.weights import load_exact, read_state_dict
from lit_extract.errors import LitExtractError

NAME = "vggish"
EMBEDDING_DIM = 128
SAMPLE_RATE = 16_000
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
FFT_LENGTH = 512  # the power of two >= the window
MEL_BANDS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # log-mel frames per example (0.96 s)
EXAMPLE_SAMPLES = STFT_WINDOW + (EXAMPLE_FRAMES - 1) * STFT_HOP  # 15,600: the sound one example reads
EXAMPLE_HOP = EXAMPLE_FRAMES * STFT_HOP  # 15,360: back-to-back examples (torchvggish's framing)
QUANTIZE_RANGE = (-2.0, 2.0)
CHANNELS = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")

RELEASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
WEIGHTS_FILE = "vggish-10086976.pth"
PCA_FILE = "vggish_pca_params-970ea276.pth"
EXPECTED_FILE = f"torchvggish's {WEIGHTS_FILE} (a state dict with features.* and embeddings.*)"
PCA_KEYS = ("pca_eigen_vectors", "pca_means")
# torchvggish's PCA file holds numpy arrays: what unpickling one needs, under numpy 2's and 1's names.
NUMPY_ARRAYS = [
    np.ndarray, np.dtype, np._core.multiarray._reconstruct, np.dtypes.Float32DType, np.dtypes.Float64DType,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
]


def mel_matrix() -> np.ndarray:
    """float64 (257, 64): row ``i`` weighs rfft bin ``i`` (i x 8000 / 256 Hz) into each mel band.

    Band ``j`` is a triangle on the HTK mel scale (``1127 ln(1 + f / 700)``) rising from edge
    ``j`` to edge ``j + 1`` and falling to edge ``j + 2``, the 66 edges evenly spaced in mel from
    125 to 7,500 Hz; the DC bin weighs 0."""
    def mel(hz: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)

    bins = mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT_LENGTH // 2 + 1))  # (257,)
    edges = np.linspace(mel(MEL_LOW_HZ), mel(MEL_HIGH_HZ), MEL_BANDS + 2)  # (66,)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # (64,) each
    rising = (bins[:, None] - lower) / (centre - lower)  # 257 64
    falling = (upper - bins[:, None]) / (upper - centre)  # 257 64
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    weights[0] = 0.0
    return weights


class LogMel(nn.Module):
    """float32 (B, 15600) 16 kHz mono sound -> float32 (B, 1, 96, 64) log-mel examples (module doc)."""

    def __init__(self) -> None:
        super().__init__()
        n = torch.arange(STFT_WINDOW, dtype=torch.float64)
        periodic_hann = 0.5 - 0.5 * torch.cos(2 * torch.pi * n / STFT_WINDOW)
        self.register_buffer("window", periodic_hann.float(), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_matrix()).float(), persistent=False)

    def forward(self, sound: torch.Tensor) -> torch.Tensor:
        frames = sound.unfold(-1, STFT_WINDOW, STFT_HOP)  # B 96 400
        spectrum = torch.fft.rfft(frames * self.window, n=FFT_LENGTH).abs()  # B 96 257
        return torch.log(spectrum @ self.mel + LOG_OFFSET).unsqueeze(1)  # B 1 96 64


def convolutions() -> nn.Sequential:
    """``features``: the six 3x3 convolutions (ReLU after each) and four 2x2 max pools."""
    layers: list[nn.Module] = []
    channels = 1
    for width in CHANNELS:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


class VGGishNetwork(nn.Module):
    """float32 (B, 1, 96, 64) log-mel examples -> float32 (B, 128) embeddings (torchvggish's ``VGG``)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = convolutions()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(True), nn.Linear(4096, 4096), nn.ReLU(True),
            nn.Linear(4096, EMBEDDING_DIM), nn.ReLU(True),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # B 512 6 4
        x = x.permute(0, 2, 3, 1).flatten(1)  # B 6 4 512 -> B 12288: TensorFlow's (time, band, channel) order
        return self.embeddings(x)  # B 128


class AudioSetPostprocess(nn.Module):
    """float32 (B, 128) raw embeddings -> float32 (B, 128) in 0..255: PCA (with whitening), clipped
    to [-2, 2], quantized to 8 bits (the AudioSet release's embeddings)."""

    def __init__(self, eigen_vectors: torch.Tensor, means: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pca_eigen_vectors", eigen_vectors.float(), persistent=False)  # 128 128
        self.register_buffer("pca_means", means.float().reshape(1, -1), persistent=False)  # 1 128

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        low, high = QUANTIZE_RANGE
        pca = (embeddings - self.pca_means) @ self.pca_eigen_vectors.T  # B 128
        return torch.round((pca.clamp(low, high) - low) * (255.0 / (high - low)))


class VGGish(nn.Module):
    """float32 (B, 15600) 16 kHz mono sound in [-1, 1] -> float32 (B, 128): log-mel, network, and
    the AudioSet postprocessing when ``postprocess`` is given."""

    def __init__(self, postprocess: AudioSetPostprocess | None = None) -> None:
        super().__init__()
        self.log_mel = LogMel()
        self.network = VGGishNetwork()
        self.postprocess = postprocess

    def forward(self, sound: torch.Tensor) -> torch.Tensor:
        embeddings = self.network(self.log_mel(sound))  # B 128
        return embeddings if self.postprocess is None else self.postprocess(embeddings)


def download(file_name: str) -> Path:
    """``RELEASE + file_name`` in the torch hub cache (downloaded once); offline, a
    :class:`WeightsUnavailable` naming the file to fetch (its ``value``: ``/path/to/<file_name>``)."""
    cache = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    if cache.is_file():
        return cache
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(RELEASE + file_name, str(cache), progress=False)
    except Exception as exc:  # URLError, timeouts, a read-only cache, HTTP errors
        raise WeightsUnavailable(f"could not download {file_name} from {RELEASE + file_name} ({exc}); offline, "
                                 "fetch that file elsewhere", f"/path/to/{file_name}") from exc
    return cache


def read_pca(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pca_eigen_vectors (128, 128), pca_means (128,))`` float32 from torchvggish's ``.pth`` (numpy
    arrays or tensors) or the TensorFlow release's ``.npz``; one-line error naming what is wrong."""
    if not path.is_file():
        raise LitExtractError(f"{path}: PCA parameters not found; pass --model.audio_postprocess DEFAULT, "
                              f"or the path of {PCA_FILE} or vggish_pca_params.npz")
    try:
        if path.suffix == ".npz":
            with np.load(path) as archive:
                payload = {key: archive[key] for key in archive.files}
        else:
            with torch.serialization.safe_globals(NUMPY_ARRAYS):
                payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain numpy arrays
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LitExtractError(f"{path}: not a readable PCA parameters file ({reason}); pass {PCA_FILE} "
                              "or vggish_pca_params.npz") from exc
    try:
        vectors, means = (torch.as_tensor(np.asarray(payload[key]), dtype=torch.float32) for key in PCA_KEYS)
    except (KeyError, TypeError, ValueError) as exc:
        raise LitExtractError(f"{path}: holds no {' and '.join(PCA_KEYS)}; pass {PCA_FILE} or vggish_pca_params.npz") from exc
    if vectors.shape != (EMBEDDING_DIM, EMBEDDING_DIM) or means.numel() != EMBEDDING_DIM:
        raise LitExtractError(f"{path}: PCA parameters of shapes {tuple(vectors.shape)} and {tuple(means.shape)}, "
                              f"VGGish needs ({EMBEDDING_DIM}, {EMBEDDING_DIM}) and ({EMBEDDING_DIM},)")
    return vectors, means.reshape(-1)


def _pca_download() -> Path:
    """torchvggish's PCA file (:func:`download`); offline, one line naming ``--model.audio_postprocess``
    (one value for every audio encoder of the run)."""
    try:
        return download(PCA_FILE)
    except WeightsUnavailable as exc:
        raise LitExtractError(f"{exc.reason}; pass --model.audio_postprocess {exc.value}") from exc


def build(weights: str, postprocess: str | None = None) -> tuple[nn.Module, int]:
    """``--model.weights`` (``DEFAULT``: torchvggish's release, downloaded once; ``none``; a path) and
    ``--model.audio_postprocess`` (None: raw embeddings; ``DEFAULT`` or a path: PCA parameters)
    -> (:class:`VGGish`, 128)."""
    post = None
    if postprocess is not None:
        pca_path = _pca_download() if weights_choice(postprocess) == "default" else Path(postprocess)
        post = AudioSetPostprocess(*read_pca(pca_path))
    model = VGGish(post)
    choice = weights_choice(weights)
    if choice != "none":
        path = download(WEIGHTS_FILE) if choice == "default" else Path(weights)  # offline: WeightsUnavailable
        load_exact(model.network, read_state_dict(path), path, NAME, EXPECTED_FILE)
    return model, EMBEDDING_DIM


ENCODERS: dict[str, AudioEncoderSpec] = {
    NAME: AudioEncoderSpec(
        name=NAME,
        sound=SoundInput(sample_rate=SAMPLE_RATE, samples=EXAMPLE_SAMPLES, hop=EXAMPLE_HOP),
        build=build,
        weights=f"DEFAULT (torchvggish's {WEIGHTS_FILE}, downloaded once), none (random init) or a local {WEIGHTS_FILE}",
    )
}
