"""Framers: the part of an agent that pulls a camera's compressed stream (RTSP, synthetic)."""

from vsnative.framers.base import FRAMERS, Framer, FramerSession

__all__ = ["FRAMERS", "Framer", "FramerSession"]
