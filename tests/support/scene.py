"""A scripted scene for detection tests: real photographs (scikit-image's astronaut, Chelsea the cat, a cup
of coffee) pasted on a plain background at scripted times, encoded as a camera would (H.264, a keyframe a
second), so the truth of what was in view when is known to the frame."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from tests.support.media import ANNEXB_H264, ffmpeg

W, H, FPS = 640, 480, 10


@dataclass(frozen=True)
class Appearance:
    label: str  # what a COCO detector should call it
    start: float  # seconds into the scene: in view from this frame ...
    end: float  # ... until this one (excluded)
    x: int
    y: int


# yolov3-tiny (shared/models) finds each alone and together: person 0.70, cat 0.75, cup 0.40
SCRIPT = (
    Appearance("cup", 0.0, 40.0, 400, 20),  # on the shelf all along: a parked object
    Appearance("person", 4.0, 14.0, 20, 200),
    Appearance("cat", 18.0, 26.0, 380, 300),
    Appearance("person", 30.0, 36.0, 20, 200),
)
SECONDS = 40.0
GOP_SECONDS = 1.0


@cache
def photo(label: str) -> np.ndarray:
    from skimage import data, transform

    image, height = {"person": (data.astronaut, 260), "cat": (data.chelsea, 170), "cup": (data.coffee, 150)}[
        label
    ]
    rgb = image()  # type: ignore[no-untyped-call]
    width = round(rgb.shape[1] * height / rgb.shape[0])
    scaled = transform.resize(rgb, (height, width), anti_aliasing=True)  # type: ignore[no-untyped-call]
    return (np.asarray(scaled) * 255).astype(np.uint8)


def frame(t: float, script: tuple[Appearance, ...] = SCRIPT) -> np.ndarray:
    picture = np.empty((H, W, 3), np.uint8)
    picture[:] = np.linspace(150, 110, H).astype(np.uint8)[:, None, None]  # a plain wall, lit from above
    for a in script:
        if a.start <= t < a.end:
            p = photo(a.label)
            picture[a.y : a.y + p.shape[0], a.x : a.x + p.shape[1]] = p
    return picture


def scene_video(path: Path, script: tuple[Appearance, ...] = SCRIPT, seconds: float = SECONDS) -> Path:
    """The scene as H.264 Annex B at FPS, a keyframe every second (serve it with `fps=10`)."""
    frames = b"".join(frame(i / FPS, script).tobytes() for i in range(round(seconds * FPS)))
    ffmpeg(
        [
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(round(FPS * GOP_SECONDS)), "-bf", "0"),
            *("-sc_threshold", "0", "-pix_fmt", "yuv420p"),
            *ANNEXB_H264,
            str(path),
        ],
        frames,
    )
    return path
