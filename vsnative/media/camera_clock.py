"""When each picture of one connection was filmed, on the wall clock: the camera's media timeline, anchored
once per connection, never the time a packet happened to arrive.

A burst of packets after a stall (a paused process reading what the kernel buffered, a congested link)
arrives seconds late; stamping clips with arrival times made one connection's clips overlap by 4-6 s. So:

- **The camera's own clock** where it sends RTCP sender reports: FFmpeg maps them to the wall-clock time of
  pts 0 (`start_time_realtime`), so `filmed = that + dts`. Used while it is believable: the earliest
  arrival seen (below) must come 1 s before the camera says it filmed at most (a camera clock ahead) and
  10 s after at most (a camera clock behind, or no NTP at all: many cameras boot in 1970 or 2000).
- Decode timestamps, not presentation ones: a clip's duration is counted in them, so consecutive clips
  stay contiguous with B-frames too (whose first pictures of a connection FFmpeg dates differently); with
  B-frames a clip is dated its composition delay (two or three frames) early.
- **Else the earliest arrival**: `filmed = base + dts`, where `base` is the minimum of `arrival - dts` over
  the last 60 s of video: the least-delayed packets, which a burst never lowers. It settles during the first
  10 s of the connection (FFmpeg hands over the packets it buffered while probing the stream all at once,
  up to a second late), then stays put; it moves again only if it drifts more than 1 s from the minimum
  (a camera clock running slow or fast by tens of ppm, over hours).

The recorder asks for a clip's start when it closes the clip (the base has settled by then), and never
earlier than the end of the connection's previous clip: consecutive clips of one connection never overlap.
"""

from __future__ import annotations

import collections
import logging

from vsnative.media.packets import EncodedPacket, StreamInfo

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0  # the earliest arrival is looked for over this much video
SETTLE_SECONDS = 10.0  # the arrival base follows the minimum freely for this long, then holds
DRIFT_SECONDS = 1.0  # ...and moves again only when the minimum is this far from it
CAMERA_AHEAD_SECONDS = 1.0  # the camera's clock is believed up to this far ahead of ours
CAMERA_BEHIND_SECONDS = 10.0  # ...and up to this far behind (latency included)


def filmed_by_reports(packet: EncodedPacket) -> float:
    """When the camera says it filmed `packet` (its RTCP sender reports), while that is believable (as
    CameraClock judges it); else when it arrived. What the detector dates its events with, so they fall on
    the clips' timeline (the recorder's clock uses the same mapping): before, events were dated by the
    keyframe's arrival, 0.2 s off the clips."""
    start = packet.info.reports.start
    if start is None:
        return packet.wallclock
    filmed = start + packet.dts * packet.info.tracks[packet.track].tick
    lag = packet.wallclock - filmed
    return filmed if -CAMERA_AHEAD_SECONDS <= lag <= CAMERA_BEHIND_SECONDS else packet.wallclock


class CameraClock:
    """The filmed time of the packets of one connection (`info`). Not thread-safe: the mux thread's."""

    def __init__(self, info: StreamInfo, camera_id: str = "") -> None:
        self.info = info
        self.camera_id = camera_id
        self._camera_base: float | None = None  # wall clock of pts 0 by the camera's sender reports
        self._camera_refused = False  # its reports were not believable: arrival for this connection
        # (media seconds, arrival - media seconds), the minimum first: a monotonic queue
        self._window: collections.deque[tuple[float, float]] = collections.deque()
        self._base: float | None = None  # the arrival base in use
        self._first: float | None = None  # media seconds of the first video packet observed
        self._settled = False

    def observe(self, packet: EncodedPacket) -> None:
        """One video packet's arrival (per packet: kept lean)."""
        media = packet.dts * packet.info.tracks[packet.track].tick
        offset = packet.wallclock - media
        window = self._window
        while window and window[-1][1] >= offset:
            window.pop()
        window.append((media, offset))
        while window[0][0] < media - WINDOW_SECONDS:
            window.popleft()
        earliest = window[0][1]
        if self._first is None:
            self._first = media
        if self._base is None:
            self._base = earliest
        elif not self._settled:
            self._base = earliest
            self._settled = media - self._first >= SETTLE_SECONDS
        elif abs(earliest - self._base) > DRIFT_SECONDS:
            log.info(
                "%s: the camera's clock drifted %.2f s from ours; clip times follow",
                self.camera_id,
                earliest - self._base,
            )
            self._base = earliest
        camera = self._camera_base
        if camera is None and not self._camera_refused:
            camera = self._camera_base = self.info.reports.start
        if camera is not None and not -CAMERA_AHEAD_SECONDS <= earliest - camera <= CAMERA_BEHIND_SECONDS:
            log.warning(
                "%s: the camera's clock is %.1f s off ours (its RTCP sender reports): clip times come from "
                "when its video arrives instead",
                self.camera_id,
                camera - earliest,
            )
            self._camera_base, self._camera_refused = None, True

    def filmed(self, packet: EncodedPacket) -> float:
        """When `packet` was filmed (epoch seconds)."""
        return self.filmed_at(packet.dts * packet.info.tracks[packet.track].tick, packet.wallclock)

    def filmed_at(self, media: float, otherwise: float) -> float:
        """When the picture at `media` seconds was filmed; `otherwise` before any packet was seen."""
        base = self._camera_base if self._camera_base is not None else self._base
        return otherwise if base is None else base + media

    def rebase(self, packet: EncodedPacket, filmed: float) -> None:
        """The camera's timeline jumped (its clock restarted without a reconnect): `packet` was filmed at
        `filmed`; the earlier samples and the sender reports' mapping no longer hold."""
        media = packet.dts * packet.info.tracks[packet.track].tick
        self._camera_base, self._camera_refused = None, True
        self._window.clear()
        self._window.append((media, filmed - media))
        self._base = filmed - media
        self._first, self._settled = media, True
