# vsnative: python -m vsnative serve, with settings/ and recordings/ as volumes.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VSN_HOST=0.0.0.0 VSN_SETTINGS_DIR=/data/settings VSN_RECORDINGS_DIR=/data/recordings \
    VSN_WEB_DIR=/app/web

WORKDIR /app
# the same install steps tests/test_dockerfile.py runs in CI
COPY pyproject.toml README.md ./
COPY vsnative ./vsnative
COPY web ./web
# the local package; its dependencies are pinned in pyproject.toml
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[otel]" \
    && useradd --system --uid 10001 --home-dir /data vsnative \
    && mkdir -p /data/settings /data/recordings
COPY --chown=10001:10001 settings /data/settings
RUN chown 10001:10001 /data/recordings

USER 10001
VOLUME ["/data/settings", "/data/recordings"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4)"]
CMD ["python", "-m", "vsnative", "serve"]
