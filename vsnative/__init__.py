"""vsnative: a video surveillance backend (agents, framers, streamers, alerters) on PyAV and asyncio."""

__version__ = "0.1.0"
