# syntax=docker/dockerfile:1.7
# Two images from one file:
#   serve (default) - the avatar API with the shipped weights:   docker build -t anime-avatars .
#   train           - the training module, for `docker compose up training`
# torch is PyPI's CUDA 13 build: the same image runs on a GPU host (NVIDIA container toolkit, a driver
# for CUDA 13) or CPU-only. Both install exact versions from requirements/*.txt, then the project's
# own wheel (built from pyproject.toml, no dependencies), so code changes rebuild only the last layers.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---------------------------------------------------------------------------------------------- base
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 avatars \
 && useradd --system --uid 10001 --gid avatars --home-dir /app --shell /usr/sbin/nologin avatars
WORKDIR /app

# ------------------------------------------------------------- the project's wheel (a throwaway stage)
FROM base AS wheel
COPY requirements/build.txt /tmp/build.txt
RUN pip install --no-cache-dir -r /tmp/build.txt
COPY pyproject.toml README.md /src/
COPY gan/ /src/gan/
COPY app/ /src/app/
COPY training/ /src/training/
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels /src

# ------------------------------------------------------------------- dependencies (cached layers first)
FROM base AS serve-deps
COPY requirements/serve.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pip install --no-cache-dir --no-deps -r /tmp/requirements.txt

FROM base AS train-deps
COPY requirements/train.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pip install --no-cache-dir --no-deps -r /tmp/requirements.txt

# --------------------------------------------------------------------------------------------- train
FROM train-deps AS train
# code and the venv stay root-owned: the training user can write its outputs, not its programs
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/anime_avatars-*.whl \
 && mkdir -p /data /runs /weights /models \
 && chown avatars:avatars /runs /weights
COPY --chmod=0755 docker/train.sh /usr/local/bin/train-and-export
# compose may run this as the host user that owns ./runs (any uid): keep caches out of a missing home
ENV HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
ENTRYPOINT ["train-and-export"]

# --------------------------------------------------------------------------------------------- serve
FROM serve-deps AS serve
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/anime_avatars-*.whl
# every shipped release and its manifest, read-only for the service user; a volume on /app/weights
# serves other releases (start-up checks each file against the hash it was published with)
COPY weights/ /app/weights/
ENV AVATARS_HOST=0.0.0.0 \
    AVATARS_PORT=8000 \
    AVATARS_WEIGHTS_DIR=/app/weights
USER 10001:10001
EXPOSE 8000
# python, not curl: the slim image has no curl, and one less package is one less CVE
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['AVATARS_PORT']}/readyz\", timeout=4)"]
# exec form, so python is PID 1 and gets SIGTERM itself: uvicorn stops accepting, finishes the queued
# work (AVATARS_SHUTDOWN_TIMEOUT_S, 30 s) and exits; give `docker stop` more than that (-t 40)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app"]
