"""`snapshot` alerter: a JPEG of the picture with boxes and labels, in `recordings/<cameraId>/alerts/`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vsnative.alerters.base import ALERTERS, Alert, Alerter
from vsnative.alerters.draw import draw, encode_jpeg


class SnapshotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["snapshot"] = "snapshot"
    quality: int = Field(4, ge=2, le=31, description="JPEG quantiser: 2 best .. 31 smallest")


@ALERTERS.register("snapshot")
class SnapshotAlerter(Alerter):
    config_model = SnapshotConfig
    config: SnapshotConfig

    async def send(self, alert: Alert) -> None:
        if alert.image is None:
            return
        path = Path(self.recordings_dir) / alert.camera_id / "alerts" / f"{alert.event_id}.jpg"
        await asyncio.to_thread(self._write, path, alert)
        alert.snapshot = str(path)

    def _write(self, path: Path, alert: Alert) -> None:
        assert alert.image is not None  # noqa: S101 - checked by the caller
        path.parent.mkdir(parents=True, exist_ok=True)
        data = encode_jpeg(draw(alert.image, list(alert.event.detections)), self.config.quality)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
