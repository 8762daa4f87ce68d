"""Camera store: the `CameraStore` seam and its file backend (`settings/cameras.json`, one writer, atomic)."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vsnative.agent import Heartbeat
from vsnative.errors import ConfigError, ConflictError, NotFoundError
from vsnative.models import RUNTIME_FIELDS, Camera, dump_cameras, parse_cameras

log = logging.getLogger(__name__)
T = TypeVar("T")


class CameraStore(Protocol):
    """Where camera records live: the file backend here, Redis in `redis_backend`."""

    async def list_cameras(self) -> list[Camera]: ...

    async def get(self, camera_id: str) -> Camera | None: ...

    async def create(self, camera: Camera) -> Camera:
        """Add a camera; ConflictError when the id exists."""
        ...

    async def replace(self, camera: Camera) -> Camera:
        """Replace a camera's user fields (runtime fields and an omitted rtspUrl are kept)."""
        ...

    async def patch(self, camera_id: str, fields: dict[str, Any]) -> Camera:
        """Change some user fields; NotFoundError for an unknown id."""
        ...

    async def delete(self, camera_id: str) -> bool: ...

    async def heartbeat(self, beat: Heartbeat) -> None: ...


def merge_user_fields(old: Camera, new: Camera, sent: set[str]) -> Camera:
    """`new` as written by a user, keeping `old`'s runtime fields and its rtspUrl unless one was sent."""
    keep = {field: getattr(old, field) for field in RUNTIME_FIELDS}
    if "rtspUrl" not in sent:
        keep["rtspUrl"] = old.rtspUrl
    return new.model_copy(update=keep)


def patched(camera: Camera, fields: dict[str, Any]) -> Camera:
    """camera with user fields changed, validated as a whole (raises pydantic's ValidationError)."""
    illegal = (set(fields) & set(RUNTIME_FIELDS)) | ({"id"} & set(fields))
    if illegal:
        raise ConflictError(f"fields {sorted(illegal)} are not writable")
    return Camera.model_validate({**camera.to_record(), **fields})


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


def create_from_sample(path: Path, sample: Path) -> bool:
    """Create the working cameras file from the shipped sample when there is none (a first run).

    The service writes its agents' bookkeeping (agentId, heartbeats) into cameras.json, as vs-go did: so
    the file a checkout tracks is the sample, and cameras.json is the user's own (git ignores it). Never
    overwrites: the copy is linked into place, and a file that appeared meanwhile wins. True when created."""
    if path.exists() or not sample.is_file():
        return False
    fd, name = tempfile.mkstemp(prefix=".cameras-", suffix=".json", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(sample.read_bytes())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


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

    async def list_cameras(self) -> list[Camera]:
        return self._cameras.copy()

    async def get(self, camera_id: str) -> Camera | None:
        return next((c for c in self._cameras if c.id == camera_id), None)

    async def update(self, camera_id: str, **fields: object) -> Camera:
        """Set runtime fields of one camera and persist (read-modify-write under the lock)."""
        return await self._mutate(
            lambda cams: self._replace_in(cams, camera_id, lambda c: c.model_copy(update=fields))
        )

    async def create(self, camera: Camera) -> Camera:
        def add(cameras: list[Camera]) -> tuple[list[Camera], Camera]:
            if any(c.id == camera.id for c in cameras):
                raise ConflictError(f"camera {camera.id!r} exists")
            return [*cameras, camera], camera

        return await self._mutate(add)

    async def replace(self, camera: Camera, sent: set[str] | None = None) -> Camera:
        fields = sent if sent is not None else set(camera.model_fields_set)
        return await self._mutate(
            lambda cams: self._replace_in(cams, camera.id, lambda old: merge_user_fields(old, camera, fields))
        )

    async def patch(self, camera_id: str, fields: dict[str, Any]) -> Camera:
        return await self._mutate(
            lambda cams: self._replace_in(cams, camera_id, lambda old: patched(old, fields))
        )

    async def delete(self, camera_id: str) -> bool:
        def remove(cameras: list[Camera]) -> tuple[list[Camera], bool]:
            kept = [c for c in cameras if c.id != camera_id]
            return kept, len(kept) != len(cameras)

        return await self._mutate(remove)

    @staticmethod
    def _replace_in(
        cameras: list[Camera], camera_id: str, change: Callable[[Camera], Camera]
    ) -> tuple[list[Camera], Camera]:
        for index, camera in enumerate(cameras):
            if camera.id == camera_id:
                updated = change(camera)
                return [*cameras[:index], updated, *cameras[index + 1 :]], updated
        raise NotFoundError(f"no camera {camera_id!r}")

    async def _mutate(self, change: Callable[[list[Camera]], tuple[list[Camera], T]]) -> T:
        """Apply `change` to the current list and persist the result, one change at a time."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._mutate_sync, change)

    def _mutate_sync(self, change: Callable[[list[Camera]], tuple[list[Camera], T]]) -> T:
        self._refresh_if_changed()
        cameras, result = change(self._cameras)
        if cameras is not self._cameras:
            self._write(cameras)
        return result

    def _write(self, cameras: list[Camera]) -> None:
        atomic_write(self.path, dump_cameras(cameras))
        stat = os.stat(self.path)
        self._cameras = cameras
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    async def heartbeat(self, beat: Heartbeat) -> None:
        """Write vs-go's heartbeat fields (see Heartbeat.fields)."""
        try:
            await self.update(beat.camera_id, **beat.fields())
        except NotFoundError:
            log.warning("heartbeat for camera %s, which is no longer in %s", beat.camera_id, self.path)
