"""GET /latents/{seed}: the vector behind a seed, for client-side latent arithmetic."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import ServiceDep
from app.schemas import LatentResponse
from gan.latents import MAX_SEED, seed_latent

router = APIRouter(tags=["explore"])


@router.get("/latents/{seed}", response_model=LatentResponse)
async def get_latent(
    seed: Annotated[int, Path(ge=0, le=MAX_SEED, description="0 <= seed < 2**63")], service: ServiceDep
) -> LatentResponse:
    """Untruncated; send it (or a sum of several) back as `latents` with any truncation."""
    latent = seed_latent(seed, service.model.latent_dim)
    return LatentResponse(seed=seed, latent_dim=latent.numel(), latent=latent.tolist())
