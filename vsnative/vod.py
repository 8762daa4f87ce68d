"""HLS playback over the recorded clips (`GET /api/cameras/{id}/vod.m3u8`): a playlist of the clips as they
lie on disk, no re-encoding.

Each clip is a fragmented MP4 (media/clip.py) whose timestamps start at 0. Its init section (`ftyp` +
`moov`) is its `EXT-X-MAP` by byte range; its fragments (`moof` + `mdat`, up to FFmpeg's `mfra`) are one
media segment, served by `GET .../vod/<µs>/<day>/<file>` (`timeline_segment`): the same bytes with each
fragment's decode time (`tfdt`, 8 bytes each) moved to the segment's place on the playlist's timeline, the
sum of the durations before it. So the playlist is one continuous timeline, gaps skipped, as a player
wants it, and contiguous clips of the same media (`media_config`) share one init section. (With every
clip restarting at 0 behind an `EXT-X-DISCONTINUITY`, FFmpeg's HLS reader, which does not reset at a
discontinuity, dropped a third of the frames of a camera with audio, "DTS 0 < 536399 out of order"; and
hls.js now and then failed to set the SourceBuffer's timestampOffset at a clip boundary: recovered, with
a stall.) `EXT-X-PROGRAM-DATE-TIME` is each clip's exact start (the index's), so a player maps its time
to the wall clock; `EXT-X-DISCONTINUITY` marks a gap or a change of the media (the camera's codec or
size), with the next clip's own `EXT-X-MAP`. A range that reaches the present, of a camera that may still
record, is an `EVENT` playlist without `EXT-X-ENDLIST`: players reload it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vsnative.clips import GAP_TOLERANCE, Clip, ClipIndex
from vsnative.media.boxes import layout, shift_decode_times, timescales

log = logging.getLogger(__name__)
LIVE_MARGIN = 30.0  # a range ending this close to now (or later) may still grow: no ENDLIST
DISCONTINUITY = "#EXT-X-DISCONTINUITY\n"
MAX_UNREADABLE_KEPT = 10_000
# a clip of one picture that an older version closed as lasting 0 s: a segment must last (FFmpeg: "Cannot
# get correct #EXTINF value")
MIN_SEGMENT_SECONDS = 0.001
MAX_SEGMENT_BYTES = 256 << 20  # one clip's fragments: 5 s of 4K at 25 Mbit/s is 16 MB


class Playlists:
    """Builds playlists from the clip index, keeping the text of whole days while they do not change (a
    past day never does) at the same place on the timeline (a playlist reloaded with the same start):
    7 days of one camera are 120,000 clips and 13 MB of playlist, built in 1.2-1.4 s the first time and in
    30-40 ms from the days' texts (bench/vod.py). Blocking; one per service."""

    def __init__(self, index: ClipIndex, max_bytes: int = 64 << 20) -> None:
        self.index = index
        self.max_bytes = max_bytes  # of day texts kept (a day of 5 s clips is 3.6 MB): the oldest go first
        self._texts: dict[tuple[Path, str, int], tuple[tuple[int, int, int], Rendered]] = {}
        self._kept = 0
        self._unreadable: dict[Path, None] = {}  # clips left out, each logged once (bounded, oldest first)

    @property
    def unreadable(self) -> int:
        """Clips left out of playlists because their layout could not be read (/metrics)."""
        return len(self._unreadable)

    def _left_out(self, clip: Clip, exc: Exception) -> None:
        if clip.path in self._unreadable:
            return
        self._unreadable[clip.path] = None
        if len(self._unreadable) > MAX_UNREADABLE_KEPT:
            del self._unreadable[next(iter(self._unreadable))]
        log.warning(
            "clip %s left out of playback: its fragments cannot be read (%s); counted in "
            "vsnative_playlist_clips_unreadable, not logged again",
            clip.path,
            exc,
        )

    def build(
        self,
        camera_id: str,
        start: float,
        end: float,
        query: str = "",
        now: float | None = None,
        may_grow: bool = True,
    ) -> tuple[str, int]:
        """The playlist of the camera's clips in [start, end) and how many it lists. URIs are relative to
        the playlist's own URL (`clips/<day>/<file>` for the init sections, `vod/<µs>/<day>/<file>` for
        the media: a URL ending in .mp4, as FFmpeg's HLS reader wants it), with `query` (e.g.
        `access_token=...`) appended. `may_grow`: the camera may still record (not excluded, not
        deleted): a range reaching now is then an EVENT playlist."""
        now = time.time() if now is None else now
        parts: list[str] = []
        listed, longest, position = 0, 1.0, 0.0
        last_end: float | None = None
        last_config: str | None = None
        for day, clips in self.index.days(camera_id, start, end):
            at = round(position * 1e6)
            if day.whole:
                cached = self._texts.get((day.path, query, at))
                if cached is not None and cached[0] == day.key:
                    rendered = cached[1]
                else:  # (today changes with every clip: its text is replaced, not kept beside)
                    rendered = render(clips, query, position, self._left_out)
                    self._keep((day.path, query, at), day.key, rendered)
            else:
                rendered = render(clips, query, position, self._left_out)
            if not rendered.count:
                continue
            parts.append(rendered.after(last_end, last_config))
            listed += rendered.count
            longest = max(longest, rendered.longest)
            position += rendered.seconds
            last_end, last_config = rendered.last_end, rendered.last_config
        live = may_grow and end >= now - LIVE_MARGIN
        head = (
            "#EXTM3U\n#EXT-X-VERSION:7\n"
            f"#EXT-X-TARGETDURATION:{math.ceil(longest)}\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
            f"#EXT-X-PLAYLIST-TYPE:{'EVENT' if live else 'VOD'}\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
        )
        return head + "".join(parts) + ("" if live else "#EXT-X-ENDLIST\n"), listed

    def _keep(self, where: tuple[Path, str, int], key: tuple[int, int, int], rendered: Rendered) -> None:
        old = self._texts.pop(where, None)
        self._kept += len(rendered.text) - (len(old[1].text) if old else 0)
        self._texts[where] = (key, rendered)
        while self._kept > self.max_bytes and len(self._texts) > 1:
            self._kept -= len(self._texts.pop(next(iter(self._texts)))[1].text)


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str  # a day's clips; a discontinuity before each after a gap or a media change (none first)
    count: int
    longest: float
    seconds: float  # the clips' durations: where the next ones lie on the timeline
    first_start: float = 0.0  # wall clock: of the first clip
    last_end: float = 0.0  # and the end of the last
    first_config: str | None = None  # the first clip's media (boxes.media_config), and the last's
    last_config: str | None = None
    first_map: tuple[int, int] = (0, 0)  # where the first clip's EXT-X-MAP line lies in `text`

    def after(self, end: float | None, config: str | None) -> str:
        """The text as it follows clips ending at `end` (wall clock) whose media was `config`: behind a
        discontinuity after a gap or a media change, or else without its first EXT-X-MAP (the last one
        applies: FFmpeg warns of each repeated moov)."""
        if end is None:
            return self.text
        if self.first_start - end > GAP_TOLERANCE or not same_media(config, self.first_config):
            return DISCONTINUITY + self.text
        a, b = self.first_map
        return self.text[:a] + self.text[b:]


def same_media(a: str | None, b: str | None) -> bool:
    """Clips that can share an init section (unknown, from an index older than `config`: not)."""
    return a is not None and a == b


def render(
    clips: Iterable[Clip],
    query: str,
    position: float = 0.0,
    left_out: Callable[[Clip, Exception], None] = lambda c, e: None,
) -> Rendered:
    """The playlist lines of clips (oldest first), the first at `position` seconds on the playlist's
    timeline. Contiguous clips of the same media share the first one's init section (one EXT-X-MAP); a
    gap or a change of media (a camera reconfigured: codec, size) is a discontinuity with a new map. A clip
    whose init section cannot be found is left out, and said to `left_out` (one closed by an older
    version, without `init` in the index, is read here)."""
    lines: list[str] = []
    longest = 0.0
    days: dict[int, str] = {}
    suffix = f"?{query}" if query else ""
    start = position
    first_start = last_end = None
    first_config = last_config = None
    first_map = (0, 0)
    for clip in clips:
        init = clip.init
        if init is None or clip.media_end is None:
            try:
                init = layout(clip.path).init
            except (OSError, ValueError) as exc:
                left_out(clip, exc)
                continue
        first = last_end is None
        gap = not first and clip.start - last_end > GAP_TOLERANCE  # type: ignore[operator]
        changed = not first and not same_media(last_config, clip.config)
        head = f"{DISCONTINUITY if gap or (changed and clip.config and last_config) else ''}"
        head += f"#EXT-X-PROGRAM-DATE-TIME:{_date_time(clip.start, days)}\n"
        map_line = (
            f'#EXT-X-MAP:URI="clips/{clip.day}/{clip.name}{suffix}",BYTERANGE="{init}@0"\n'
            if first or gap or changed
            else ""
        )
        if first:
            first_map = (len(head), len(head) + len(map_line))
            first_start, first_config = clip.start, clip.config
        seconds = max(clip.duration, MIN_SEGMENT_SECONDS)
        line = (
            f"{head}{map_line}#EXTINF:{seconds:.3f},\n"
            f"vod/{round(position * 1e6)}/{clip.day}/{clip.name}{suffix}\n"
        )
        lines.append(line)
        position += seconds
        longest = max(longest, seconds)
        last_end, last_config = clip.end, clip.config
    return Rendered(
        "".join(lines),
        len(lines),
        longest,
        position - start,
        first_start or 0.0,
        last_end or 0.0,
        first_config,
        last_config,
        first_map,
    )


def timeline_segment(path: Path, at_us: int) -> bytes:
    """A clip's media segment (its fragments) placed `at_us` microseconds into the playlist's timeline:
    each track's fragment decode times moved by that much, in the track's own timescale (the clip's
    timestamps start at 0). Blocking. ValueError for a file that is not a clip as the recorder writes it."""
    parts = layout(path)
    if parts.media_end - parts.init > MAX_SEGMENT_BYTES:
        raise ValueError(f"{path.name}: {parts.media_end - parts.init} bytes of fragments: not a clip")
    with open(path, "rb") as fh:
        init = fh.read(parts.init)
        media = bytearray(fh.read(parts.media_end - parts.init))
    scales = timescales(init)
    shift_decode_times(media, {track: at_us * scale // 1_000_000 for track, scale in scales.items()})
    return bytes(media)


def _date_time(ts: float, days: dict[int, str]) -> str:
    """ISO 8601 in UTC to the millisecond; the date formatted once per day (120,000 clips a week: this
    is most of a playlist's time otherwise)."""
    fraction, whole = math.modf(ts)  # as datetime does it: to the microsecond, then cut to the ms
    millis = int(whole) * 1000 + round(fraction * 1e6) // 1000
    day, ms = divmod(millis, 86_400_000)
    date = days.get(day)
    if date is None:
        date = days[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    seconds, ms = divmod(ms, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"
