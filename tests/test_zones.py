"""Zones: named or bare polygons, checked when the settings are read; an object is in a zone when the middle
of its box's bottom edge is inside or on the border, so a zone reaching the picture's edge takes the boxes
touching that edge."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from vsnative.streamers.detect import DetectorStreamerConfig
from vsnative.zones import Zone, inside

README_ZONE = [(0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0)]  # the README's example: the lower 60%


def zones(*given: object) -> list[Zone]:
    return DetectorStreamerConfig.model_validate({"detector": {"type": "motion"}, "zones": list(given)}).zones


def test_a_bare_polygon_is_a_zone_named_by_its_place() -> None:
    first, second = zones(README_ZONE, {"name": "door", "points": README_ZONE, "loiterSeconds": 20})
    assert (first.name, second.name, second.loiterSeconds) == ("zone1", "door", 20)
    assert first.points == README_ZONE


def test_a_zone_holds_a_box_by_the_middle_of_its_bottom_edge() -> None:
    (left_half,) = zones([(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    assert left_half.holds((0.1, 0.1, 0.3, 0.9))
    assert not left_half.holds((0.6, 0.1, 0.8, 0.9))
    assert left_half.holds((0.3, 0.1, 0.6, 0.9))  # bottom centre x = 0.45: inside
    assert not left_half.holds((0.45, 0.1, 0.7, 0.9))  # the box overlaps, its bottom centre (0.575) does not


@pytest.mark.parametrize(
    ("box", "why"),
    [
        ((0.3, 0.2, 0.5, 1.0), "feet on the picture's bottom edge (the filed case: the 0.96 person box)"),
        ((0.9, 0.3, 1.0, 0.7), "bottom centre at x = 0.95, inside"),
        ((0.0, 0.1, 0.0, 0.6), "a sliver on the left edge: bottom centre at x = 0.0"),
        ((0.98, 0.1, 1.0, 1.0), "bottom right corner of the picture"),
        ((1.0, 0.5, 1.0, 1.0), "a sliver on the right edge down to the bottom: x = 1.0, y = 1.0"),
        ((0.2, 0.0, 0.4, 0.4), "bottom centre on the zone's top border"),
    ],
)
def test_a_zone_takes_boxes_on_its_borders(box: tuple[float, float, float, float], why: str) -> None:
    (zone,) = zones(README_ZONE)
    assert zone.holds(box), why


def test_just_outside_a_zone_is_outside() -> None:
    (zone,) = zones(README_ZONE)
    assert not zone.holds((0.2, 0.0, 0.4, 0.399))
    triangle = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert inside((0.5, 0.5), triangle)  # on the diagonal border
    assert not inside((0.51, 0.51), triangle)
    assert inside((0.0, 0.0), triangle)  # a vertex
    assert inside((1.0, 0.0), triangle)  # the far vertex, on the picture's right edge


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([[(0.0, 0.0), (1.0, 0.5)]], "2 points: a zone is a polygon of 3 points or more"),
        ([[(0.0, 0.0), (1.5, 0.0), (1.0, 1.0)]], "point (1.5, 0) is outside the picture"),
        ([README_ZONE, [(0.0, -0.1), (1.0, 0.0), (1.0, 1.0)]], "zones.1.points"),
        ([{"name": "a", "points": README_ZONE}, {"name": "a", "points": README_ZONE}], "a given twice"),
        ([{"name": "no spaces", "points": README_ZONE}], "pattern"),
        ([{"name": "a", "points": README_ZONE, "loiterSeconds": 0}], "greater than 0"),
    ],
)
def test_zones_are_checked_when_the_settings_are_read(given: list[object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        zones(*given)
