"""Process settings: command-line flags over `VSN_*` environment variables over defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a `vsnative serve` process needs to know before it reads settings/*.json."""

    model_config = SettingsConfigDict(env_prefix="VSN_", extra="ignore")

    settings_dir: Path = Field(Path("settings"), description="folder with cameras.json and pipeline.json")
    recordings_dir: Path = Field(Path("recordings"), description="folder for clips and alert images")
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0 = any free port)")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(True, description="one JSON object per log line")
    heartbeat_seconds: float = Field(30.0, gt=0, description="how often agents write lastHeartbeat")
    retention_seconds: float = Field(60.0, gt=0, description="how often the retention sweep runs")
    max_agents: int = Field(64, ge=1, description="most agents this process runs")

    @property
    def cameras_file(self) -> Path:
        return self.settings_dir / "cameras.json"

    @property
    def pipeline_file(self) -> Path:
        return self.settings_dir / "pipeline.json"
