"""Drawing boxes and labels on RGB pictures with numpy (a 3x5 pixel font, scaled), and JPEG encoding."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from vsnative.detectors.base import Detection

# 3x5 glyphs, rows top to bottom, '#' = ink. Letters are drawn as capitals.
_FONT = {
    "A": "###,#.#,###,#.#,#.#",
    "B": "##.,#.#,##.,#.#,##.",
    "C": "###,#..,#..,#..,###",
    "D": "##.,#.#,#.#,#.#,##.",
    "E": "###,#..,##.,#..,###",
    "F": "###,#..,##.,#..,#..",
    "G": "###,#..,#.#,#.#,###",
    "H": "#.#,#.#,###,#.#,#.#",
    "I": "###,.#.,.#.,.#.,###",
    "J": "..#,..#,..#,#.#,###",
    "K": "#.#,#.#,##.,#.#,#.#",
    "L": "#..,#..,#..,#..,###",
    "M": "#.#,###,###,#.#,#.#",
    "N": "##.,#.#,#.#,#.#,#.#",
    "O": "###,#.#,#.#,#.#,###",
    "P": "###,#.#,###,#..,#..",
    "Q": "###,#.#,#.#,###,..#",
    "R": "##.,#.#,##.,#.#,#.#",
    "S": "###,#..,###,..#,###",
    "T": "###,.#.,.#.,.#.,.#.",
    "U": "#.#,#.#,#.#,#.#,###",
    "V": "#.#,#.#,#.#,#.#,.#.",
    "W": "#.#,#.#,###,###,#.#",
    "X": "#.#,#.#,.#.,#.#,#.#",
    "Y": "#.#,#.#,.#.,.#.,.#.",
    "Z": "###,..#,.#.,#..,###",
    "0": "###,#.#,#.#,#.#,###",
    "1": ".#.,##.,.#.,.#.,###",
    "2": "###,..#,###,#..,###",
    "3": "###,..#,###,..#,###",
    "4": "#.#,#.#,###,..#,..#",
    "5": "###,#..,###,..#,###",
    "6": "###,#..,###,#.#,###",
    "7": "###,..#,..#,..#,..#",
    "8": "###,#.#,###,#.#,###",
    "9": "###,#.#,###,..#,###",
    " ": "...,...,...,...,...",
    ".": "...,...,...,...,.#.",
    "-": "...,...,###,...,...",
    "%": "#.#,..#,.#.,#..,#.#",
    ":": "...,.#.,...,.#.,...",
    "_": "...,...,...,...,###",
}
_GLYPHS = {ch: np.array([[c == "#" for c in row] for row in rows.split(",")]) for ch, rows in _FONT.items()}
_COLOURS = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255), (0, 220, 220)]


def _text(image: np.ndarray, x: int, y: int, text: str, colour: tuple[int, int, int], scale: int) -> None:
    h, w = image.shape[:2]
    for i, ch in enumerate(text.upper()):
        glyph = _GLYPHS.get(ch, _GLYPHS["_"])
        big = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        gx = x + i * 4 * scale
        region = image[y : y + big.shape[0], gx : gx + big.shape[1]]
        if gx >= w or y >= h:
            return
        region[big[: region.shape[0], : region.shape[1]]] = colour


def draw(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """A copy of image with each detection's box and `label 87%` drawn."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, w // 320)
    scale = max(2, w // 320)
    for index, det in enumerate(detections):
        colour = _COLOURS[index % len(_COLOURS)]
        x1, y1 = int(det.box[0] * (w - 1)), int(det.box[1] * (h - 1))
        x2, y2 = int(det.box[2] * (w - 1)), int(det.box[3] * (h - 1))
        out[y1 : y1 + thick, x1 : x2 + 1] = colour
        out[max(y2 - thick + 1, 0) : y2 + 1, x1 : x2 + 1] = colour
        out[y1 : y2 + 1, x1 : x1 + thick] = colour
        out[y1 : y2 + 1, max(x2 - thick + 1, 0) : x2 + 1] = colour
        label = f"{det.label} {round(det.confidence * 100)}%"
        ty = y1 - 6 * scale - 2 if y1 >= 6 * scale + 2 else y1 + thick + 2
        band = out[max(ty - 1, 0) : ty + 5 * scale + 1, x1 : x1 + len(label) * 4 * scale + 1]
        band[:] = (0, 0, 0)
        _text(out, x1 + 1, ty, label, colour, scale)
    return out


def placeholder(lines: list[str], width: int = 640, height: int = 360) -> np.ndarray:
    """A dark picture with a few lines of text, centred: what a camera's tile shows when it has no picture
    (its state and why)."""
    out = np.full((height, width, 3), 40, np.uint8)
    scale = max(2, width // 160)
    total = len(lines) * 7 * scale
    y = (height - total) // 2
    for n, line in enumerate(lines):
        line = line[: (width - 8) // (4 * scale)]  # what fits on one line
        x = (width - len(line) * 4 * scale) // 2
        _text(
            out,
            max(4, x),
            y,
            line,
            (230, 230, 230) if n == 0 else (180, 180, 180),
            scale if n == 0 else max(2, scale - 1),
        )
        y += 7 * scale
    return out


def encode_jpeg(image: np.ndarray, quality: int = 4) -> bytes:
    """JPEG bytes of an RGB picture (PyAV's mjpeg encoder; quality: 2 best .. 31 worst)."""
    h, w = image.shape[:2]
    image = image[: h - h % 2, : w - w % 2]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
        format="yuvj420p"
    )
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = frame.width, frame.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"qmin": str(quality), "qmax": str(quality)}
    packets = encoder.encode(frame) + encoder.encode(None)
    return b"".join(bytes(p) for p in packets)
