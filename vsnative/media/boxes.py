"""Where the parts of a fragmented MP4 clip lie: its init section (`ftyp` + `moov`) and its media (the
`moof` + `mdat` fragments, up to the `mfra` index FFmpeg appends), as HLS byte ranges name them
(`EXT-X-MAP` + `EXT-X-BYTERANGE`: vod.py). Read from the top-level box headers only: a few reads of 8-16
bytes per clip. Blocking."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_BOXES = 10_000  # a clip of a few seconds has a fragment per GOP: far fewer


@dataclass(frozen=True, slots=True)
class Layout:
    init: int  # bytes from 0: ftyp + moov
    media_end: int  # the fragments lie in [init, media_end)


def layout(path: Path) -> Layout:
    """The layout of a fragmented MP4; ValueError when the file is not one (no moov, or no moof after it)."""
    init: int | None = None
    media_end: int | None = None
    fragments = False
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        pos = 0
        for _ in range(MAX_BOXES):
            if pos + 8 > size:
                break
            fh.seek(pos)
            header = fh.read(16)
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1:  # a 64-bit size follows
                if len(header) < 16:
                    raise ValueError(f"{path.name}: a box cut short at {pos}")
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:  # to the end of the file
                length = size - pos
            if length < 8:
                raise ValueError(f"{path.name}: a box of {length} bytes at {pos}")
            if kind == b"moov":
                init = pos + length
            elif kind == b"moof":
                if init is None:
                    raise ValueError(f"{path.name}: a fragment before the moov")
                fragments = True
            elif kind == b"mfra":
                media_end = pos
                break
            pos += length
    if init is None:
        raise ValueError(f"{path.name}: no moov: not a clip")
    if not fragments:
        raise ValueError(f"{path.name}: no fragments: not a fragmented MP4")
    return Layout(init, media_end if media_end is not None else min(pos, size))
