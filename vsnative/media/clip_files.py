"""Clip files on disk, written off the framer threads.

A clip is muxed in its camera's framer thread into a `ClipFile`, a write-only file object (fragmented
MP4 needs no seek): PyAV hands it the clip's bytes about once per fragment (each GOP), and it queues them.
One writer thread (shared by every camera) creates the `.part` file, writes the bytes, and once the clip
is finished renames it and appends its index line, in the order they were made. So a disk that stalls
holds up only that thread, never a camera's demux or live view; `ClipFiles.queued` says how many bytes
wait, and the recorder stops recording (counted) past its bound.

Muxing in the framer thread instead of in the writer thread saves the hand-off of every packet between
threads (measured: see the README's recording figures).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import BinaryIO

from vsnative.media.clip import PART_SUFFIX, ClipInfo
from vsnative.recordings import append_index, clip_path

log = logging.getLogger(__name__)
_WRITE, _FINISH, _ABANDON = 0, 1, 2


class ClipFile:
    """Where one clip's muxer writes (its framer thread); the file itself is the writer thread's."""

    __slots__ = ("_handle", "failed", "files", "path", "start")

    def __init__(self, files: ClipFiles, start: float) -> None:
        self.files = files
        self.start = start  # wall clock of the clip's first frame: its name
        self.failed = False  # the disk refused it (set by the writer thread; what reached it stays .part)
        self.path: Path | None = None  # chosen by the writer thread when it creates the file
        self._handle: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        """PyAV's output callback: queue the bytes."""
        self.files._put(self, _WRITE, bytes(data))
        return len(data)

    def finish(self, duration: float, frames: int) -> None:
        """The clip is complete: once its bytes are on disk, rename it and index it."""
        self.files._put(self, _FINISH, b"", duration, frames)

    def abandon(self) -> None:
        """Give the clip up (a muxer error): what reached the disk stays under the `.part` name."""
        self.files._put(self, _ABANDON)

    # --- the writer thread ---------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._handle is None:
            path = clip_path(self.files.root, self.files.camera_id, self.start)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(path.with_name(path.name + PART_SUFFIX), "wb", buffering=0)  # noqa: SIM115
            self.path = path
        view = memoryview(data)
        while view:
            written = self._handle.write(view)
            view = view[written or 0 :]

    def _finish(self, duration: float, frames: int) -> ClipInfo | None:
        handle, self._handle = self._handle, None
        if handle is None or self.path is None:
            return None
        handle.close()
        os.replace(self.path.with_name(self.path.name + PART_SUFFIX), self.path)
        clip = ClipInfo(self.path, self.start, duration, frames, self.path.stat().st_size)
        append_index(clip)
        return clip

    def _close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()


class ClipFiles:
    """One camera's clip files: what its clips' muxers made, written in order by the writer executor."""

    def __init__(
        self,
        root: Path,
        camera_id: str,
        executor: Executor,
        published: Callable[[list[ClipInfo]], object] = lambda clips: None,
    ) -> None:
        self.root = root
        self.camera_id = camera_id
        self.executor = executor
        self.published = published  # called in the writer thread with the clips just closed
        self.queued = 0  # bytes made and not yet written
        self.failures = 0  # clips the disk refused (logged)
        # (file, what, bytes to write, duration and frames of a finished clip)
        self._todo: collections.deque[tuple[ClipFile, int, bytes, float, int]] = collections.deque()
        self._lock = threading.Lock()
        self._draining = False
        self._last: Future[None] | None = None

    def new(self, start: float) -> ClipFile:
        return ClipFile(self, start)

    def _put(
        self, file: ClipFile, kind: int, data: bytes = b"", duration: float = 0.0, frames: int = 0
    ) -> None:
        with self._lock:
            self._todo.append((file, kind, data, duration, frames))
            self.queued += len(data)
            if self._draining:
                return
            self._draining = True
        self._last = self.executor.submit(self._drain)

    async def flush(self) -> None:
        """Wait until everything queued so far is on disk (and its clips indexed)."""
        if self._last is not None:
            await asyncio.shield(asyncio.wrap_future(self._last))

    def _drain(self) -> None:
        """The writer thread: one job writes what it finds, in order, until there is nothing left."""
        while True:
            with self._lock:
                if not self._todo:
                    self._draining = False
                    return
                file, kind, data, duration, frames = self._todo.popleft()
            closed = None
            try:
                if file.failed:
                    pass
                elif kind == _WRITE:
                    file._write(data)
                elif kind == _FINISH:
                    closed = file._finish(duration, frames)
                else:
                    file._close()
            except OSError as exc:
                self._refused(file, exc)
            finally:
                if data:
                    with self._lock:
                        self.queued -= len(data)
            if closed is not None:
                self.published([closed])

    def _refused(self, file: ClipFile, exc: OSError) -> None:
        """The disk refused a clip (full, gone, read-only): logged, counted; the next clip tries again."""
        file.failed = True
        file._close()
        self.failures += 1
        log.error("%s: cannot write clip %s: %s", self.camera_id, file.path or file.start, exc)
