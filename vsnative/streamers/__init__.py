"""Streamers: consumers of a camera's packet fan-out (recorder; live view and detection come next)."""

from vsnative.streamers.base import STREAMERS, Streamer, StreamerContext

__all__ = ["STREAMERS", "Streamer", "StreamerContext"]
