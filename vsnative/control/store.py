"""Camera store: the `CameraStore` seam and its file backend (`settings/cameras.json`, one writer, atomic)."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Protocol

from vsnative.agent import Heartbeat
from vsnative.errors import ConfigError
from vsnative.models import Camera, dump_cameras, parse_cameras

log = logging.getLogger(__name__)


class CameraStore(Protocol):
    """Where camera records live. File backend here; a Redis backend joins with the control plane."""

    async def list_cameras(self) -> list[Camera]: ...

    async def get(self, camera_id: str) -> Camera | None: ...

    async def heartbeat(self, beat: Heartbeat) -> None: ...


def atomic_write(path: Path, data: bytes) -> None:
    """Write data to a temp file beside path, fsync, then rename over path (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileCameraStore:
    """cameras.json as the store. This process is the only writer; writes are serialised by a lock.

    Each write re-reads the file first when it changed on disk (a user's edit is merged, not lost), and a
    file that no longer validates is never overwritten: the write is refused with the validation error.
    """

    def __init__(
        self, path: Path, executor: Executor | None = None, known_framers: Iterable[str] | None = None
    ) -> None:
        self.path = path
        self._executor = executor
        self._known = frozenset(known_framers) if known_framers is not None else None
        self._lock = asyncio.Lock()
        self._cameras: list[Camera] = []
        self._stamp: tuple[int, int] | None = None

    def load(self) -> list[Camera]:
        """Read and validate the file (blocking). Raises ConfigError listing each bad field."""
        try:
            data = self.path.read_bytes()
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise ConfigError(str(self.path), [("(file)", "not found")]) from None
        self._cameras = parse_cameras(data, str(self.path), self._known)
        self._stamp = (stat.st_mtime_ns, stat.st_size)
        return list(self._cameras)

    def _refresh_if_changed(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            self.load()

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    async def list_cameras(self) -> list[Camera]:
        return self._cameras.copy()

    async def get(self, camera_id: str) -> Camera | None:
        return next((c for c in self._cameras if c.id == camera_id), None)

    async def update(self, camera_id: str, **fields: object) -> Camera:
        """Set fields of one camera and persist (read-modify-write under the lock)."""
        async with self._lock:
            return await self._run(self._update_sync, camera_id, fields)  # type: ignore[return-value]

    def _update_sync(self, camera_id: str, fields: dict[str, object]) -> Camera:
        self._refresh_if_changed()
        for index, camera in enumerate(self._cameras):
            if camera.id == camera_id:
                updated = camera.model_copy(update=fields)
                cameras = [*self._cameras[:index], updated, *self._cameras[index + 1 :]]
                self._write(cameras)
                return updated
        raise KeyError(camera_id)

    def _write(self, cameras: list[Camera]) -> None:
        atomic_write(self.path, dump_cameras(cameras))
        stat = os.stat(self.path)
        self._cameras = cameras
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    async def heartbeat(self, beat: Heartbeat) -> None:
        """Write vs-go's heartbeat fields. An unhealthy agent does not claim to be alive."""
        fields: dict[str, object] = {
            "agentId": beat.agent_id,
            "startupTime": beat.startup_time,
            "uptime": beat.uptime,
        }
        if beat.healthy:
            fields["lastHeartbeat"] = beat.last_heartbeat
        try:
            await self.update(beat.camera_id, **fields)
        except KeyError:
            log.warning("heartbeat for camera %s, which is no longer in %s", beat.camera_id, self.path)
