"""Plugin registries: one explicit name -> class table per plugin kind (framers, streamers, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from vsnative.errors import PluginError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a configuration name (e.g. `mp4Recorder`) to the class that implements it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: `@STREAMERS.register("mp4Recorder")`."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise PluginError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> type[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise PluginError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}"
            ) from None

    def names(self) -> frozenset[str]:
        return frozenset(self._entries)
