"""Where the parts of a fragmented MP4 clip lie: its init section (`ftyp` + `moov`) and its media (the
`moof` + `mdat` fragments, up to the `mfra` index FFmpeg appends), as HLS names them (`EXT-X-MAP` by byte
range, and the media segment: vod.py). Read from the top-level box headers only: a few reads of 8-16
bytes per clip. And what playback over many clips needs of their boxes: each track's timescale (the
init's `mdhd`) and the fragments' decode times (`tfdt`) moved onto the playlist's timeline. Blocking."""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Mapping
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


def _children(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int, bytes, int]]:
    """The boxes in data[start:end]: (position, size, type, header size). ValueError for a box that does
    not fit."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ValueError(f"a box cut short at {pos}")
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"a {kind!r} box of {size} bytes at {pos} does not fit in {end - start}")
        yield pos, size, kind, header
        pos += size


def _child(data: bytes | bytearray, start: int, end: int, kind: bytes) -> Iterator[tuple[int, int]]:
    """(content start, end) of each box of `kind` in data[start:end]."""
    for pos, size, found, header in _children(data, start, end):
        if found == kind:
            yield pos + header, pos + size


def _tracks(init: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Each track of an init section: its track_ID (tkhd), media timescale (mdhd) and sample description
    (the stsd box: codec, its parameter sets, picture size, audio format)."""
    for moov, moov_end in _child(init, 0, len(init), b"moov"):
        for trak, trak_end in _child(init, moov, moov_end, b"trak"):
            track = scale = None
            stsd = b""
            for tkhd, _ in _child(init, trak, trak_end, b"tkhd"):  # version, flags; 2 times; track_ID
                track = struct.unpack_from(">I", init, tkhd + (20 if init[tkhd] == 1 else 12))[0]
            for mdia, mdia_end in _child(init, trak, trak_end, b"mdia"):
                for mdhd, _ in _child(init, mdia, mdia_end, b"mdhd"):  # version, flags; 2 times; timescale
                    scale = struct.unpack_from(">I", init, mdhd + (20 if init[mdhd] == 1 else 12))[0]
                for minf, minf_end in _child(init, mdia, mdia_end, b"minf"):
                    for stbl, stbl_end in _child(init, minf, minf_end, b"stbl"):
                        for box, box_end in _child(init, stbl, stbl_end, b"stsd"):
                            stsd += init[box:box_end]
            if track is not None and scale is not None:
                yield track, scale, stsd


def timescales(init: bytes) -> dict[int, int]:
    """track_ID -> its media timescale (ticks a second), from an init section's moov/trak/tkhd and mdhd."""
    return {track: scale for track, scale, _ in _tracks(init) if scale}


def shift_decode_times(media: bytearray, ticks: Mapping[int, int]) -> int:
    """Add ticks[track_ID] to the decode time (`tfdt`) of every track fragment of `media` (a clip's moof +
    mdat boxes), in place; sizes and offsets do not change. Returns the fragments moved. ValueError for a
    fragment without a tfdt, a track not in `ticks`, or a 32-bit tfdt the sum does not fit."""
    moved = 0
    for moof, moof_end in _child(media, 0, len(media), b"moof"):
        for traf, traf_end in _child(media, moof, moof_end, b"traf"):
            track = next(
                (
                    struct.unpack_from(">I", media, tfhd + 4)[0]
                    for tfhd, _ in _child(media, traf, traf_end, b"tfhd")
                ),
                None,
            )
            if track is None or track not in ticks:
                raise ValueError(f"a fragment of track {track}, which the init section does not have")
            shift = ticks[track]
            found = False
            for tfdt, _ in _child(media, traf, traf_end, b"tfdt"):
                found = True
                if media[tfdt] == 1:
                    struct.pack_into(
                        ">Q", media, tfdt + 4, struct.unpack_from(">Q", media, tfdt + 4)[0] + shift
                    )
                else:
                    value = struct.unpack_from(">I", media, tfdt + 4)[0] + shift
                    if value >= 1 << 32:
                        raise ValueError("a 32-bit decode time too small for the playlist's timeline")
                    struct.pack_into(">I", media, tfdt + 4, value)
            if not found:
                raise ValueError(f"a fragment of track {track} without a decode time (tfdt)")
            moved += 1
    return moved


def media_config(init: bytes) -> str:
    """What an init section says of the media, as a short digest: each track's id, timescale and sample
    description (`stsd`: codec, its parameter sets, picture size, audio format). Two clips with the same
    digest can share one init section in a playlist; the rest of a moov differs from clip to clip (an
    edit list's start, the clip's own metadata) without changing what a player needs."""
    digest = hashlib.sha256()
    for track, scale, stsd in _tracks(init):
        digest.update(struct.pack(">II", track, scale) + stsd)
    return digest.hexdigest()[:16]
