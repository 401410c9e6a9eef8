"""`python -m app`: load the releases (refusing to start with one clear line if any is bad), then serve."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from app.config import Settings
from app.inference import DeviceError
from app.main import create_app
from app.releases import ReleaseRegistry
from gan.checkpoint import CheckpointError
from gan.releases import ManifestError


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        # a field's rule names its variable; a rule across fields (queue vs largest request) has no loc
        where = f"setting AVATARS_{str(first['loc'][0]).upper()}" if first["loc"] else "settings"
        print(f"error: invalid {where}: {first['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        releases = ReleaseRegistry.load(
            settings.weights_dir, settings.device, settings.dtype, settings.torch_thread_count, settings.upscaler_dtype
        )
    except (CheckpointError, DeviceError, ManifestError) as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return 1
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": int(settings.shutdown_timeout_s),
        # httptools with a size limit and a deadline on each request's head (431, 408)
        "http": "app.http_protocol:GuardedHttpToolsProtocol",
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings, releases), **options)
    else:
        # each worker process builds its own app from the same environment and loads the releases
        # again (they were checked above, so a bad one never gets this far)
        del releases
        uvicorn.run("app.main:create_app", factory=True, workers=settings.workers, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
