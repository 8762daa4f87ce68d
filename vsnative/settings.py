"""Process settings: command-line flags over `VSN_*` environment variables over defaults."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vsnative.errors import ConfigError
from vsnative.webrtc.ice import IceSettings, validate_address


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def default_manager_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Settings(BaseSettings):
    """Everything a vsnative process needs to know before it reads its cameras."""

    model_config = SettingsConfigDict(env_prefix="VSN_", extra="ignore")

    settings_dir: Path = Field(Path("settings"), description="folder with cameras.json and pipeline.json")
    recordings_dir: Path = Field(Path("recordings"), description="folder for clips and alert images")
    web_dir: Path = Field(
        Path(__file__).resolve().parents[1] / "web", description="folder of the browser UI served at /"
    )
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0 = any free port)")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(True, description="one JSON object per log line")
    backend: Literal["file", "redis"] = Field("file", description="where cameras, leases and orphans live")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for --backend redis")
    redis_prefix: str = Field("vsn:", description="prefix of every Redis key")
    manager_id: str = Field(default_factory=default_manager_id, description="this manager's name")
    max_agents: int | None = Field(None, ge=1, description="agents per manager (manager: 1, serve: 64)")
    heartbeat_seconds: float = Field(30.0, gt=0, description="how often agents write lastHeartbeat")
    lease_seconds: float = Field(15.0, gt=0, description="lease TTL; renewed every third of it")
    reconcile_seconds: float = Field(5.0, gt=0, description="manager's check for excluded/deleted cameras")
    monitor_seconds: float = Field(10.0, gt=0, description="monitor's period")
    stale_seconds: float = Field(300.0, gt=0, description="a heartbeat older than this is abandoned")
    orphans_per_period: int = Field(100, ge=1, description="most orphan requests per monitor period")
    export_max_seconds: float = Field(3600.0, gt=0, description="longest range one export may cover")
    api_token: SecretStr | None = Field(None, description="bearer token required by the API when set")
    api_token_file: Path | None = Field(None, description="file holding the bearer token")
    retention_seconds: float = Field(60.0, gt=0, description="how often the retention sweep runs")
    public_url: str | None = Field(
        None, description="the service's address as people reach it: alert links (webhook, MQTT) are absolute"
    )
    advertise_url: str | None = Field(
        None, description="the URL other pods and redirected clients reach this process at"
    )
    webrtc_ice_servers: str = Field(
        "", description="comma-separated stun:/turn: URLs for live view (none: host candidates only)"
    )
    webrtc_ice_username: str | None = Field(None, description="TURN username")
    webrtc_ice_credential: SecretStr | None = Field(None, description="TURN password")
    webrtc_host_addresses: str = Field(
        "", description="comma-separated addresses offered to viewers (default: every non-loopback one)"
    )

    @field_validator("webrtc_host_addresses")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for address in _split(value):
            validate_address(address)
        return value

    @field_validator("webrtc_ice_servers")
    @classmethod
    def _ice_urls(cls, value: str) -> str:
        for url in _split(value):
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        return value

    def ice(self) -> IceSettings:
        credential = self.webrtc_ice_credential
        return IceSettings(
            servers=tuple(_split(self.webrtc_ice_servers)),
            username=self.webrtc_ice_username,
            credential=credential.get_secret_value() if credential else None,
            host_addresses=tuple(_split(self.webrtc_host_addresses)),
        )

    def advertised_url(self) -> str:
        """Where other pods reach this process's API: `advertise_url`, else http://<host>:<port> (the host
        name when listening on every address)."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else socket.gethostname()  # noqa: S104
        return f"http://{host}:{self.port}"

    def bearer_token(self) -> str | None:
        """The token from VSN_API_TOKEN or VSN_API_TOKEN_FILE; None when auth is off. Raises ConfigError."""
        if self.api_token is not None:
            token = self.api_token.get_secret_value().strip()
        elif self.api_token_file is not None:
            try:
                token = self.api_token_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    str(self.api_token_file), [("(file)", f"cannot read the API token: {exc}")]
                ) from exc
        else:
            return None
        if len(token) < 16:
            raise ConfigError("settings", [("api_token", "use at least 16 characters")])
        return token

    @property
    def cameras_file(self) -> Path:
        return self.settings_dir / "cameras.json"

    @property
    def cameras_sample_file(self) -> Path:
        """The shipped sample that the first run copies to cameras.json (which git ignores)."""
        return self.settings_dir / "cameras.sample.json"

    @property
    def pipeline_file(self) -> Path:
        return self.settings_dir / "pipeline.json"

    @property
    def orphans_file(self) -> Path:
        return self.settings_dir / "orphans.json"
