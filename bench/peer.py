"""The peer: the same generator served by LitServe's dynamic batching, `python -m bench.peer`.

It honours the one-seed contract of `POST /avatars`: body {"seeds": [s]}, answer the 64x64 PNG.
To compare serving stacks rather than models, it does the same work per avatar as the service:
the latent is drawn by `gan.latents.seed_latent`, the generator is loaded (through
`gan.checkpoint.load_generator`) and run by the service's own `AvatarModel` (folded batch norms,
channels-last, inference mode, uint8 on the device), and the PNG comes from the same encoder at the
same zlib level, so the two answer byte-identical PNGs (the benchmark checks). What differs is
LitServe itself: its API-server process, the queue to its inference worker, its batching loop,
and PNG encoding inside that worker.
"""

import argparse
import logging
from pathlib import Path
from typing import Any

import litserve as ls
import numpy as np
import torch
from fastapi import HTTPException, Response

from app.config import Settings
from app.encoding import encode_png
from app.inference import AvatarModel
from bench.http import LOOPBACK
from gan.latents import MAX_SEED, seed_latent

logger = logging.getLogger(__name__)


class AvatarLitAPI(ls.LitAPI):
    """One seed in, one PNG out; LitServe stacks the latents of concurrent requests into batches.

    LitServe builds its endpoint from the annotations of `decode_request` and `encode_response`,
    so this module keeps them as real types (no `from __future__ import annotations`).
    """

    def __init__(self, weights: Path, threads: int, png_level: int, **kwargs: Any) -> None:
        super().__init__(api_path="/avatars", **kwargs)
        self.weights = weights
        self.threads = threads
        self.png_level = png_level

    def setup(self, device: str) -> None:
        self.model = AvatarModel.load(self.weights, device="cpu", threads=self.threads)
        self.model.warmup_images(self.max_batch_size)  # as the service does before it reports ready

    def decode_request(self, request: dict[str, Any], **kwargs: Any) -> torch.Tensor:
        seeds = request.get("seeds") if isinstance(request, dict) else None
        if not (isinstance(seeds, list) and len(seeds) == 1 and isinstance(seeds[0], int)):
            raise HTTPException(422, 'the peer serves one seed per request: {"seeds": [s]}')
        if not 0 <= seeds[0] <= MAX_SEED:
            raise HTTPException(422, "0 <= seed < 2**63")
        return seed_latent(seeds[0], self.model.latent_dim)

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(inputs)

    def predict(self, x: torch.Tensor, **kwargs: Any) -> np.ndarray:
        if x.ndim == 1:  # max_batch_size=1: LitServe passes the single input without batching
            x = x[None]
        return self.model.render(x)

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, output: np.ndarray, **kwargs: Any) -> Response:
        image = output[0] if output.ndim == 4 else output
        return Response(encode_png(image, self.model.resolution, self.png_level), media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-timeout", type=float, default=0.004, help="seconds a batch waits to fill")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--png-level", type=int, default=Settings.model_fields["png_compress_level"].default)
    parser.add_argument("--fast-queue", action="store_true", help="ZeroMQ between LitServe's processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    api = AvatarLitAPI(
        args.weights,
        args.threads,
        args.png_level,
        max_batch_size=args.max_batch_size,
        batch_timeout=args.batch_timeout,
    )
    server = ls.LitServer(
        api, accelerator="cpu", devices=1, workers_per_device=1, timeout=60, fast_queue=args.fast_queue
    )
    server.run(host=LOOPBACK, port=args.port, num_api_servers=1, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
