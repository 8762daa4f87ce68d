"""Command line: `python -m vsnative serve|check`. Flags override `VSN_*` environment variables."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vsnative import __version__, log
from vsnative.errors import ConfigError
from vsnative.settings import Settings

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsnative", description="Open video surveillance backend.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings-dir", type=Path, help="folder with cameras.json and pipeline.json [VSN_SETTINGS_DIR]"
    )
    common.add_argument("--recordings-dir", type=Path, help="folder for clips [VSN_RECORDINGS_DIR]")
    common.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR [VSN_LOG_LEVEL]")
    serve = sub.add_parser("serve", parents=[common], help="run agents for every camera and the HTTP API")
    serve.add_argument("--host", help="listen address, default 127.0.0.1 [VSN_HOST]")
    serve.add_argument("--port", type=int, help="listen port, default 8080 [VSN_PORT]")
    serve.add_argument(
        "--heartbeat-seconds", type=float, help="agent heartbeat period [VSN_HEARTBEAT_SECONDS]"
    )
    serve.add_argument("--max-agents", type=int, help="most agents in this process [VSN_MAX_AGENTS]")
    sub.add_parser(
        "check", parents=[common], help="validate settings/*.json and exit (0 = valid, 2 = invalid)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        key: value for key, value in vars(args).items() if key != "command" and value is not None
    }
    # imported here, after argument parsing: it loads PyAV and every plugin
    from vsnative.service import load_config, serve

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for err in exc.errors():
            print(f"settings: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    log.configure(settings.log_level, settings.log_json)
    if args.command == "check":
        return _check(settings)
    try:
        config = load_config(settings)
    except ConfigError as exc:
        _report(exc)
        return EXIT_CONFIG
    _run(serve(settings, config))
    return 0


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
        load_pipeline(settings.pipeline_file)
    except ConfigError as exc:
        _report(exc)
        failed = True
    try:
        data = settings.cameras_file.read_bytes()
    except FileNotFoundError:
        print(f"{settings.cameras_file}: (file): not found", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    try:
        cameras = parse_cameras(data, str(settings.cameras_file), FRAMERS.names())
    except ConfigError as exc:
        _report(exc)
        return EXIT_CONFIG
    if failed:
        return EXIT_CONFIG
    print(f"{settings.cameras_file}: {len(cameras)} cameras, valid")  # noqa: T201
    return 0


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        asyncio.run(coro)
    else:
        uvloop.run(coro)
