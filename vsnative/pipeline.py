"""`settings/pipeline.json`: which framer options and streamers each camera gets, and retention.

Every plugin has its own typed config model; streamer entries form one discriminated union on `type`.
Per-camera entries override the defaults key by key (a camera's `streamers` list replaces the default list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vsnative.alerters.bus import AlertsConfig
from vsnative.alerters.mqtt import MqttConfig
from vsnative.alerters.snapshot import SnapshotConfig
from vsnative.alerters.webhook import WebhookConfig
from vsnative.errors import ConfigError
from vsnative.framers.rtsp import RtspFramerConfig
from vsnative.framers.synthetic import SyntheticFramerConfig
from vsnative.health_events import HealthConfig
from vsnative.recordings import RetentionConfig
from vsnative.streamers.detect import DetectorStreamerConfig
from vsnative.streamers.recorder import Mp4RecorderConfig
from vsnative.streamers.webrtc import WebRtcConfig

# One visible union per plugin kind; add new plugin configs here.
StreamerConfig = Annotated[
    Mp4RecorderConfig | DetectorStreamerConfig | WebRtcConfig, Field(discriminator="type")
]
AlerterConfig = Annotated[SnapshotConfig | WebhookConfig | MqttConfig, Field(discriminator="type")]


class FramersConfig(BaseModel):
    """Options per framer type, keyed by the camera's `framerType`."""

    model_config = ConfigDict(extra="forbid")

    rtsp: RtspFramerConfig = Field(default_factory=RtspFramerConfig)
    random: SyntheticFramerConfig = Field(default_factory=SyntheticFramerConfig)


class CameraPipeline(BaseModel):
    """The resolved pipeline of one camera."""

    model_config = ConfigDict(extra="forbid")

    framers: FramersConfig = Field(default_factory=FramersConfig)
    streamers: list[StreamerConfig] = Field(
        default_factory=lambda: list[StreamerConfig]([Mp4RecorderConfig(), WebRtcConfig()])
    )
    alerters: list[AlerterConfig] = Field(default_factory=lambda: list[AlerterConfig]([SnapshotConfig()]))
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)


class CameraOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framers: FramersConfig | None = None
    streamers: list[StreamerConfig] | None = None
    alerters: list[AlerterConfig] | None = None
    alerts: AlertsConfig | None = None
    health: HealthConfig | None = None


class PipelineFile(BaseModel):
    """The whole settings/pipeline.json."""

    model_config = ConfigDict(extra="forbid")

    defaults: CameraPipeline = Field(default_factory=CameraPipeline)
    cameras: dict[str, CameraOverride] = Field(default_factory=dict)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    def for_camera(self, camera_id: str) -> CameraPipeline:
        override = self.cameras.get(camera_id)
        if override is None:
            return self.defaults
        fields = ("framers", "streamers", "alerters", "alerts", "health")
        update = {key: value for key in fields if (value := getattr(override, key)) is not None}
        return self.defaults.model_copy(update=update)


def load_pipeline(path: Path) -> PipelineFile:
    """Read and validate pipeline.json; a missing file means all defaults."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return PipelineFile()
    try:
        return PipelineFile.model_validate_json(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in err["loc"]) or "(file)", err["msg"]) for err in exc.errors()]
        raise ConfigError(str(path), problems) from exc
