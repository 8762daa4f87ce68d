"""Command line: `python -m vsnative serve|manager|monitor|check|import-cameras`. Flags override `VSN_*`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vsnative import __version__, log
from vsnative.errors import ConfigError
from vsnative.settings import Settings

if TYPE_CHECKING:
    from vsnative.pipeline import PipelineFile

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsnative", description="Open video surveillance backend.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings-dir", type=Path, help="folder with cameras.json and pipeline.json [VSN_SETTINGS_DIR]"
    )
    common.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR [VSN_LOG_LEVEL]")

    backend = argparse.ArgumentParser(add_help=False)
    backend.add_argument(
        "--backend", choices=["file", "redis"], help="cameras, leases, orphans [VSN_BACKEND]"
    )
    backend.add_argument("--redis-url", help="redis://[:password@]host:port/db [VSN_REDIS_URL]")
    backend.add_argument("--redis-prefix", help="key prefix, default vsn: [VSN_REDIS_PREFIX]")
    backend.add_argument("--stale-seconds", type=float, help="abandoned heartbeat age, default 300")

    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--host", help="listen address, default 127.0.0.1 [VSN_HOST]")
    api.add_argument("--port", type=int, help="listen port, default 8080 [VSN_PORT]")
    api.add_argument(
        "--webrtc-host-addresses",
        help="addresses offered to live viewers, comma-separated (127.0.0.1 for one box) "
        "[VSN_WEBRTC_HOST_ADDRESSES]",
    )
    api.add_argument(
        "--public-url",
        help="the service's address as people reach it (https://nvr.example.org): alert links in webhooks "
        "and MQTT are absolute [VSN_PUBLIC_URL]",
    )
    api.add_argument(
        "--advertise-url",
        help="the URL other pods and redirected clients reach this process at, default "
        "http://<host or hostname>:<port> [VSN_ADVERTISE_URL]",
    )
    api.add_argument(
        "--webrtc-ice-servers",
        help="stun:/turn: URLs for live view, comma-separated [VSN_WEBRTC_ICE_SERVERS]",
    )

    agents = argparse.ArgumentParser(add_help=False)
    agents.add_argument("--recordings-dir", type=Path, help="folder for clips [VSN_RECORDINGS_DIR]")
    agents.add_argument("--max-agents", type=int, help="agents in this process [VSN_MAX_AGENTS]")
    agents.add_argument("--manager-id", help="this manager's name, default host-pid-random [VSN_MANAGER_ID]")
    agents.add_argument("--heartbeat-seconds", type=float, help="agent heartbeat period, default 30")
    agents.add_argument("--lease-seconds", type=float, help="lease TTL, default 15")
    agents.add_argument("--reconcile-seconds", type=float, help="excluded/deleted check period, default 5")

    monitor = argparse.ArgumentParser(add_help=False)
    monitor.add_argument("--monitor-seconds", type=float, help="monitor period, default 10")
    monitor.add_argument(
        "--orphans-per-period", type=int, help="most orphan requests per period, default 100"
    )

    sub.add_parser(
        "serve",
        parents=[common, backend, api, agents, monitor],
        help="manager + monitor + HTTP API (default: file)",
    )
    sub.add_parser("manager", parents=[common, backend, api, agents], help="agents-manager with its HTTP API")
    sub.add_parser("monitor", parents=[common, backend, monitor], help="agents-monitor")
    sub.add_parser("check", parents=[common], help="validate settings/*.json (0 = valid, 2 = invalid)")
    imp = sub.add_parser("import-cameras", parents=[common, backend], help="copy cameras.json into Redis")
    imp.add_argument("--file", type=Path, help="cameras file, default <settings-dir>/cameras.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "file") and value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for err in exc.errors():
            print(f"settings: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    log.configure(settings.log_level, settings.log_json)
    if args.command == "check":
        return _check(settings)
    # imported here, after argument parsing: it loads PyAV and every plugin
    from vsnative.service import Roles, load_file_store, load_pipeline_config, run

    if args.command == "import-cameras":
        return _import(settings, args.file or settings.cameras_file)
    roles = {
        "serve": Roles(manager=True, monitor=True, api=True, default_max_agents=64),
        "manager": Roles(manager=True, monitor=False, api=True, default_max_agents=1),
        "monitor": Roles(manager=False, monitor=True, api=False),
    }[args.command]
    try:
        settings.bearer_token()  # a token file that cannot be read is a configuration error
        pipeline = load_pipeline_config(settings)
        file_store = load_file_store(settings) if settings.backend == "file" else None
    except ConfigError as exc:
        _report(exc)
        return EXIT_CONFIG
    from vsnative import telemetry

    telemetry.configure_from_env()
    return _run(run(settings, roles, pipeline, file_store))


def _report(exc: ConfigError) -> None:
    for line in exc.lines():
        print(line, file=sys.stderr)  # noqa: T201


def _check(settings: Settings) -> int:
    """Validate both settings files strictly (unknown framer types too); report every problem found."""
    from vsnative.framers import FRAMERS
    from vsnative.models import parse_cameras
    from vsnative.pipeline import load_pipeline

    failed = False
    try:
        pipeline = load_pipeline(settings.pipeline_file)
    except ConfigError as exc:
        _report(exc)
        failed = True
    else:
        for line in _check_detectors(pipeline):
            print(f"{settings.pipeline_file}: {line}", file=sys.stderr)  # noqa: T201
            failed = True
    cameras_file, first_run = settings.cameras_file, ""
    if not cameras_file.exists() and settings.cameras_sample_file.is_file():  # what serve's first run copies
        cameras_file = settings.cameras_sample_file
        first_run = f" (serve creates {settings.cameras_file.name} from it on its first run)"
    try:
        data = cameras_file.read_bytes()
    except FileNotFoundError:
        print(f"{cameras_file}: (file): not found", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    try:
        cameras = parse_cameras(data, str(cameras_file), FRAMERS.names())
    except ConfigError as exc:
        _report(exc)
        return EXIT_CONFIG
    if failed:
        return EXIT_CONFIG
    print(f"{settings.pipeline_file}: valid, every detector it names loads")  # noqa: T201
    print(f"{cameras_file}: {len(cameras)} cameras, valid{first_run}")  # noqa: T201
    return 0


def _check_detectors(pipeline: PipelineFile) -> list[str]:
    """Load every detector the pipeline names, as an agent would (model file, output layout, class names,
    labels): one `where: problem` line each. At start-up the same problems disable that camera's detector
    (with the reason in /api/agents) while the camera records."""
    from vsnative.detectors.base import DETECTORS
    from vsnative.errors import PluginError
    from vsnative.streamers.detect import DetectorStreamerConfig

    places = [("defaults", pipeline.defaults.streamers)]
    places += [(f"cameras.{cid}", o.streamers) for cid, o in pipeline.cameras.items() if o.streamers]
    problems: list[str] = []
    seen: dict[str, str | None] = {}
    for where, streamers in places:
        for n, streamer in enumerate(streamers):
            if not isinstance(streamer, DetectorStreamerConfig):
                continue
            config = streamer.detector
            key = config.model_dump_json()
            if key not in seen:
                try:
                    DETECTORS.get(config.type)(config).load()
                    seen[key] = None
                except PluginError as exc:
                    seen[key] = str(exc)
            if seen[key] is not None:
                problems.append(f"{where}.streamers.{n}.detector: {seen[key]}")
    return problems


def _import(settings: Settings, path: Path) -> int:
    from vsnative.control.redis_backend import RedisBackend, connect
    from vsnative.models import parse_cameras

    try:
        cameras = parse_cameras(path.read_bytes(), str(path))
    except FileNotFoundError:
        print(f"{path}: (file): not found", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    except ConfigError as exc:
        _report(exc)
        return EXIT_CONFIG

    async def load() -> int:
        client = connect(settings.redis_url)
        try:
            return await RedisBackend(client, settings.redis_prefix).import_cameras(cameras)
        finally:
            await client.aclose()

    count = asyncio.run(load())
    print(f"imported {count} cameras into {log.redact(settings.redis_url)} (prefix {settings.redis_prefix})")  # noqa: T201
    return 0


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.run(coro)
    return uvloop.run(coro)
