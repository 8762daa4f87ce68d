#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (as root) and runs the whole suite.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -m 'not slow'   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  redis-server                             # the control plane's backend (tests use their own key prefix)
  mosquitto                                # MQTT broker for the mqtt alerter's tests
  ffmpeg                                   # ffprobe/ffmpeg check clips; test media is made with it
  python3-gi gir1.2-gst-rtsp-server-1.0    # the fake IP camera: GStreamer's RTSP server
  gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  chromium                                 # the web UI's browser tests (driven by Playwright, never downloaded)
)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Redis on 127.0.0.1:6379 (this machine kind runs one; start it when it does not answer)
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
