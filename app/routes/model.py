"""GET /model: what is being served."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ServiceDep
from app.schemas import ModelResponse

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelResponse)
async def get_model(service: ServiceDep) -> ModelResponse:
    """The checkpoint's metadata and model card, and how this instance runs it."""
    model = service.model
    runtime = {
        "device": str(model.device),
        "dtype": str(model.dtype).removeprefix("torch."),
        "max_batch_size": service.settings.max_batch_size,
        "max_wait_ms": service.settings.max_wait_ms,
    }
    return ModelResponse(**model.info.as_dict(), runtime=runtime)
