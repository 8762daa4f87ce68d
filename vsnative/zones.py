"""Zones: named polygons of the picture (relative coordinates, 0..1) that an object is in when its box's
bottom centre (where it stands) is inside or on the border."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Point = tuple[float, float]
EDGE = 1e-9  # how close to a zone's border counts as on it (relative coordinates)


class Zone(BaseModel):
    """`{"name": "driveway", "points": [[0, 0.4], [1, 0.4], [1, 1], [0, 1]], "loiterSeconds": 30}`; a bare
    list of points is a zone too, named `zone1`, `zone2`... by its place in the list."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    points: list[Point]
    loiterSeconds: float | None = Field(
        None, gt=0, description="an object in the zone this long is said to loiter (one update)"
    )

    @field_validator("points")
    @classmethod
    def _points(cls, points: list[Point]) -> list[Point]:
        if len(points) < 3:
            raise ValueError(f"{len(points)} points: a zone is a polygon of 3 points or more")
        for x, y in points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x:g}, {y:g}) is outside the picture (coordinates are 0..1)")
        return points

    def holds(self, box: tuple[float, float, float, float]) -> bool:
        """Is a box (x1, y1, x2, y2) in the zone: its bottom centre inside or on the border?"""
        return inside(foot(box), self.points)


def foot(box: tuple[float, float, float, float]) -> Point:
    """Where a box's object stands: the middle of its bottom edge."""
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2, y2)


def named_zones(zones: Any) -> Any:
    """Config input: bare polygons become zones named by their place (`zone1`...); names must differ."""
    if not isinstance(zones, list):
        return zones
    out = [
        {"name": f"zone{n + 1}", "points": zone} if isinstance(zone, list | tuple) else zone
        for n, zone in enumerate(zones)
    ]
    names = [z.get("name") if isinstance(z, dict) else getattr(z, "name", None) for z in out]
    duplicated = sorted({str(n) for n in names if n is not None and names.count(n) > 1})
    if duplicated:
        raise ValueError(f"zone names must differ: {', '.join(duplicated)} given twice")
    return out


def inside(point: Point, polygon: list[Point]) -> bool:
    """Is the point inside the polygon or on its border (relative coordinates)? Borders count: a box that
    touches the picture's bottom has its bottom centre at y = 1.0 exactly, on the border of a zone that
    reaches the bottom (ray casting alone is half-open and left out the bottom and right edges)."""
    x, y = point
    result = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if _on_segment(x, y, xi, yi, xj, yj):
            return True
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
        j = i
    return result


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    if abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) > EDGE:
        return False
    return min(x1, x2) - EDGE <= x <= max(x1, x2) + EDGE and min(y1, y2) - EDGE <= y <= max(y1, y2) + EDGE
