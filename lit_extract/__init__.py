"""lit_extract: clip embeddings from frozen video encoders, on PyTorch Lightning."""
__version__ = "0.2.0"
