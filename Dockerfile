# syntax=docker/dockerfile:1.7
# Two images from one file:
#   serve (default) - the avatar API with the shipped weights:   docker build -t anime-avatars .
#   train           - the training module, for `docker compose up training`
# torch is PyPI's CUDA build: the same image runs on a GPU host (NVIDIA container toolkit) or CPU-only.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---------------------------------------------------------------------------------------------- base
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 avatars \
 && useradd --system --uid 10001 --gid avatars --home-dir /app --shell /usr/sbin/nologin avatars
WORKDIR /app

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
COPY --chown=avatars:avatars pyproject.toml README.md ./
COPY --chown=avatars:avatars gan/ gan/
COPY --chown=avatars:avatars training/ training/
COPY --chown=avatars:avatars docker/train.sh /usr/local/bin/train-and-export
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && mkdir -p /data /runs /weights && chown avatars:avatars /runs /weights
USER 10001:10001
ENTRYPOINT ["train-and-export"]

# --------------------------------------------------------------------------------------------- serve
FROM serve-deps AS serve
COPY --chown=avatars:avatars pyproject.toml README.md ./
COPY --chown=avatars:avatars gan/ gan/
COPY --chown=avatars:avatars app/ app/
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
# the shipped checkpoint; mount a volume on /app/weights to serve another one
COPY --chown=avatars:avatars weights/ /app/weights/
ENV AVATARS_HOST=0.0.0.0 \
    AVATARS_PORT=8000 \
    AVATARS_WEIGHTS_PATH=/app/weights/generator.safetensors
USER 10001:10001
EXPOSE 8000
# python, not curl: the slim image has no curl, and one less package is one less CVE
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['AVATARS_PORT']}/readyz\", timeout=4)"]
# exec form: SIGTERM reaches uvicorn, which stops accepting, drains the queue and exits
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app"]
