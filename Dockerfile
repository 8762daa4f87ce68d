# vsnative: python -m vsnative serve, with settings/ and recordings/ as volumes.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VSN_HOST=0.0.0.0 VSN_SETTINGS_DIR=/data/settings VSN_RECORDINGS_DIR=/data/recordings

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vsnative ./vsnative
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --home /data vsnative \
    && mkdir -p /data/settings /data/recordings
COPY settings /data/settings
RUN chown -R vsnative /data

USER vsnative
VOLUME ["/data/settings", "/data/recordings"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4)"
CMD ["python", "-m", "vsnative", "serve"]
