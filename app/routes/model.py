"""GET /models (every release), GET /models/{release} and GET /model (the default release)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import ReleaseName, ServiceDep
from app.releases import ServedRelease
from app.responses import RELEASE_ERRORS
from app.schemas import ModelList, ModelResponse
from app.service import AvatarService

router = APIRouter(tags=["model"])


def runtime(service: AvatarService) -> dict[str, Any]:
    return {
        "max_batch_size": service.settings.max_batch_size,
        "max_wait_ms": service.settings.max_wait_ms,
    }


def describe(served: ServedRelease, service: AvatarService) -> ModelResponse:
    model = served.model
    run = {"device": str(model.device), "dtype": str(model.dtype).removeprefix("torch."), **runtime(service)}
    return ModelResponse(**served.describe(), runtime=run)


@router.get("/model", response_model=ModelResponse)
async def get_model(service: ServiceDep) -> ModelResponse:
    """The default release: its checkpoint's metadata and model card, and how this instance runs it."""
    return describe(service.releases.default, service)


@router.get("/models", response_model=ModelList)
async def list_models(service: ServiceDep) -> ModelList:
    """Every release of the manifest: served ones with their model card, retired ones with their successor."""
    releases = service.releases
    listing = [
        describe(releases.served[entry["name"]], service).model_dump() if entry["loaded"] else entry
        for entry in releases.listing()
    ]
    return ModelList(default=releases.default.name, releases=listing)


@router.get("/models/{release}", response_model=ModelResponse, responses=RELEASE_ERRORS)
async def get_release(release: ReleaseName, service: ServiceDep) -> ModelResponse:
    """One served release; 404 for an unknown name, 410 for a retired one."""
    return describe(service.releases.resolve(release), service)
