"""Probes and metrics: /healthz (alive), /readyz (model loaded and warm), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.schemas import Status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status)
async def get_health() -> Status:
    """The process answers; says nothing about the model."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def get_ready(request: Request) -> Response:
    """200 once the model is loaded and warmed up and while it takes work; 503 before and while draining."""
    service = getattr(request.app.state, "service", None)
    if service is None or not service.ready or not service.queue.accepting:
        return JSONResponse(status_code=503, content={"status": "not ready"}, headers={"Retry-After": "5"})
    default = service.releases.default
    return JSONResponse({"status": "ready", "model": default.name, "model_version": default.version})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def get_metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency per route, queue depth, batch sizes, images, rejections."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
