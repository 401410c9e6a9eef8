"""The avatar service: FastAPI over a micro-batched GAN generator. Entry point: `python -m app`."""

__version__ = "1.0.0"
