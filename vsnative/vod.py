"""HLS playback over the recorded clips (`GET /api/cameras/{id}/vod.m3u8`): a playlist of the clips as they
lie on disk, no re-encoding and no copying.

Each clip is a fragmented MP4 (media/clip.py): its init section (`ftyp` + `moov`) is its `EXT-X-MAP` by
byte range, its fragments (`moof` + `mdat`, up to FFmpeg's `mfra`) one media segment by byte range
(`EXT-X-BYTERANGE`), and `EXT-X-PROGRAM-DATE-TIME` its exact start (the index's), so a player maps its
time to the wall clock. Every clip but the first follows an `EXT-X-DISCONTINUITY`: each clip's timestamps
start at 0 and each has its own init section, which is what a discontinuity says (RFC 8216 4.3.2.3); gaps
and codec or size changes are among them, and players (hls.js, Safari, FFmpeg) go on across them.
A range that reaches the present is an `EVENT` playlist without `EXT-X-ENDLIST`: players reload it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vsnative.clips import Clip, ClipIndex
from vsnative.media.boxes import layout

log = logging.getLogger(__name__)
LIVE_MARGIN = 30.0  # a range ending this close to now (or later) may still grow: no ENDLIST
DISCONTINUITY = "#EXT-X-DISCONTINUITY\n"
MAX_UNREADABLE_KEPT = 10_000


class Playlists:
    """Builds playlists from the clip index, keeping the text of whole days while they do not change (a
    past day never does): 7 days of one camera are 120,000 clips and 25 MB of playlist, built in 0.7 s
    the first time and in 16-19 ms from the days' texts (bench/vod.py). Blocking; one per service."""

    def __init__(self, index: ClipIndex, max_bytes: int = 64 << 20) -> None:
        self.index = index
        self.max_bytes = max_bytes  # of day texts kept (a day of 5 s clips is 3.6 MB): the oldest go first
        self._texts: dict[tuple[Path, str], tuple[tuple[int, int, int], Rendered]] = {}
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
        self, camera_id: str, start: float, end: float, query: str = "", now: float | None = None
    ) -> tuple[str, int]:
        """The playlist of the camera's clips in [start, end) and how many it lists. URIs are relative to
        the playlist's own URL (`clips/<day>/<name>`), with `query` (e.g. `access_token=...`) appended."""
        now = time.time() if now is None else now
        suffix = f"?{query}" if query else ""
        parts: list[Rendered] = []
        for day, clips in self.index.days(camera_id, start, end):
            if day.whole:
                cached = self._texts.get((day.path, suffix))
                if cached is not None and cached[0] == day.key:
                    rendered = cached[1]
                else:  # (today changes with every clip: its text is replaced, not kept beside)
                    rendered = render(clips, suffix, self._left_out)
                    self._keep((day.path, suffix), day.key, rendered)
            else:
                rendered = render(clips, suffix, self._left_out)
            if rendered.count:
                parts.append(rendered)
        listed = sum(r.count for r in parts)
        longest = max((r.longest for r in parts), default=1.0)
        body = "".join(r.text for r in parts).removeprefix(DISCONTINUITY)  # none before the first clip
        live = end >= now - LIVE_MARGIN
        head = (
            "#EXTM3U\n#EXT-X-VERSION:7\n"
            f"#EXT-X-TARGETDURATION:{math.ceil(longest)}\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
            f"#EXT-X-PLAYLIST-TYPE:{'EVENT' if live else 'VOD'}\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
        )
        return head + body + ("" if live else "#EXT-X-ENDLIST\n"), listed

    def _keep(self, where: tuple[Path, str], key: tuple[int, int, int], rendered: Rendered) -> None:
        old = self._texts.pop(where, None)
        self._kept += len(rendered.text) - (len(old[1].text) if old else 0)
        self._texts[where] = (key, rendered)
        while self._kept > self.max_bytes and len(self._texts) > 1:
            self._kept -= len(self._texts.pop(next(iter(self._texts)))[1].text)


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str  # each clip after an EXT-X-DISCONTINUITY
    count: int
    longest: float


def render(
    clips: Iterable[Clip], suffix: str, left_out: Callable[[Clip, Exception], None] = lambda c, e: None
) -> Rendered:
    """The playlist lines of clips (oldest first). A clip whose init section cannot be found is left out,
    and said to `left_out` (one closed by an older version, without `init` in the index, is read here)."""
    lines: list[str] = []
    longest = 0.0
    days: dict[int, str] = {}
    for clip in clips:
        init, media_end = clip.init, clip.media_end
        if init is None or media_end is None:
            try:
                parts = layout(clip.path)
            except (OSError, ValueError) as exc:
                left_out(clip, exc)
                continue
            init, media_end = parts.init, parts.media_end
        uri = f"clips/{clip.day}/{clip.name}{suffix}"
        lines.append(
            f"{DISCONTINUITY}#EXT-X-PROGRAM-DATE-TIME:{_date_time(clip.start, days)}\n"
            f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{init}@0"\n'
            f"#EXTINF:{clip.duration:.3f},\n"
            f"#EXT-X-BYTERANGE:{media_end - init}@{init}\n"
            f"{uri}\n"
        )
        longest = max(longest, clip.duration)
    return Rendered("".join(lines), len(lines), longest)


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
