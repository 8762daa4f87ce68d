"""The tracker: detections linked across pictures into objects, and the events they make (new, update, end),
with keyframe-only pictures (a GOP apart), stationary objects, zones and loitering."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from vsnative.detectors.base import Detection
from vsnative.tracking import ObjectEvent, Tracker, TrackingConfig
from vsnative.zones import Zone

T0 = 1_700_000_000.0
IMAGE = np.zeros((4, 4, 3), np.uint8)


def box_at(x: float, y: float = 0.5, w: float = 0.125, h: float = 0.2) -> tuple[float, float, float, float]:
    return (x, y, x + w, y + h)


def tracker(zones: Iterable[Zone] = (), **config: object) -> Tracker:
    return Tracker(TrackingConfig.model_validate(config), zones)


def run(t: Tracker, frames: Iterable[tuple[float, list[Detection]]]) -> list[ObjectEvent]:
    out: list[ObjectEvent] = []
    for at, found in frames:
        out += t.update(T0 + at, found, IMAGE)
    return out


def of(messages: list[ObjectEvent], kind: str) -> list[ObjectEvent]:
    return [m for m in messages if m.type == kind]


def test_a_square_sliding_a_keyframe_apart_is_one_object_with_one_event() -> None:
    """The e2e camera's square: 60 px/s on 640 px, a box of 80 px, a keyframe a second: consecutive boxes
    overlap by 0.14 only; the predicted box (by the measured speed) overlaps almost wholly."""
    t = tracker()
    frames = [(s, [Detection("red square", 0.95, box_at(s * 60 / 640))]) for s in range(8)]
    messages = run(t, frames)
    (new,) = of(messages, "new")
    assert new.start == T0
    assert [o.id for o in t.objects] == [new.object_id]
    # gone: 5 s (endSeconds) and 2 pictures without it; it ends at the last picture it was in
    messages = run(t, [(s, []) for s in range(8, 14)])
    (end,) = of(messages, "end")
    assert (end.event_id, end.start, end.end, end.end_reason) == (new.event_id, T0, T0 + 7, "gone")
    assert t.objects == []


def test_a_person_walking_further_than_a_box_width_between_keyframes_stays_one_object() -> None:
    """Keyframe-only detection with a 2 s GOP: a person walking 1.4 m/s across a 10 m wide picture moves
    0.28 of it between pictures, more than the 0.1-wide box: no overlap at all, linked by the centre."""
    t = tracker()
    frames = [(2 * i, [Detection("person", 0.8, box_at(0.05 + 0.28 * i, w=0.1, h=0.4))]) for i in range(4)]
    messages = run(t, frames)
    assert len(of(messages, "new")) == 1
    assert len(t.objects) == 1


def test_two_people_crossing_keep_their_ids() -> None:
    t = tracker()
    frames = []
    for i in range(9):  # one walks right, the other left, along the same line, crossing at i = 4
        a = Detection("person", 0.8, box_at(0.1 + 0.08 * i, w=0.1, h=0.4))
        b = Detection("person", 0.8, box_at(0.74 - 0.08 * i, w=0.1, h=0.4))
        frames.append((float(i), [a, b] if i % 2 else [b, a]))
    run(t, frames)
    assert len(t.objects) == 2
    right, left = sorted(t.objects, key=lambda o: o.first_seen + o.velocity[0])[::-1]
    assert right.velocity[0] > 0 > left.velocity[0]
    assert right.box[0] > left.box[0]  # each went on its way: ids did not swap at the crossing
    assert {right.id, left.id} == {1, 2}


def test_labels_never_link_and_far_boxes_are_other_objects() -> None:
    t = tracker()
    run(t, [(0, [Detection("cat", 0.9, box_at(0.1)), Detection("dog", 0.9, box_at(0.1))])])
    run(t, [(1, [Detection("cat", 0.9, box_at(0.1)), Detection("cat", 0.9, box_at(0.7))])])
    assert sorted(o.label for o in t.objects) == ["cat", "cat", "dog"]


def test_one_missed_keyframe_of_a_long_gop_does_not_end_the_event() -> None:
    """A camera with a 10 s GOP: one picture without the object is already 10 s (past endSeconds), but a
    detector misses an object now and then; it takes two pictures without it."""
    t = tracker()
    person = Detection("person", 0.8, box_at(0.3))
    messages = run(t, [(0, [person]), (10, []), (20, [person]), (30, []), (40, [])])
    assert len(of(messages, "new")) == 1
    (end,) = of(messages, "end")
    assert end.end == T0 + 20


def test_a_parked_car_is_one_event_for_hours_and_a_new_one_when_it_drives_off() -> None:
    t = tracker(stationarySeconds=30)
    parked = [(2.0 * i, [Detection("car", 0.9 - (i % 3) * 0.01, box_at(0.4))]) for i in range(3 * 3600 // 2)]
    messages = run(t, parked)
    new, end = messages  # three hours in view: one event, nothing after it stopped moving
    assert (new.type, end.type, end.end_reason, end.stationary) == ("new", "end", "stationary", True)
    assert end.end is not None
    assert 30 <= end.end - new.start <= 32
    assert t.counts() == {"car": 1}  # still there: counted as in view
    assert t.objects[0].stationary
    assert t.objects[0].public()["stationary"] is True
    leaving = [(3 * 3600 + 2.0 * i, [Detection("car", 0.9, box_at(0.4 + 0.1 * i))]) for i in range(1, 4)]
    messages = run(t, leaving)
    (again,) = of(messages, "new")
    assert again.object_id == new.object_id  # the same object, a new event
    assert again.event_id != new.event_id
    assert again.start == T0 + 3 * 3600 + 2
    messages = run(t, [(3 * 3600 + 2.0 * i, []) for i in range(4, 9)])
    assert [m.type for m in messages] == ["end"]
    assert t.counts() == {}


def test_an_object_is_an_event_only_in_a_zone_which_it_starts_at() -> None:
    driveway = Zone(name="driveway", points=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)], loiterSeconds=4)
    t = tracker([driveway], updateSeconds=0)
    walk = [(float(i), [Detection("person", 0.8, box_at(0.1 + 0.1 * i, w=0.1))]) for i in range(9)]
    messages = run(t, walk)
    new = of(messages, "new")[0]
    # its foot (box centre) crosses x = 0.5 at i = 4 (0.1 + 0.4 + 0.05 = 0.55 > 0.5; i = 3: 0.45)
    assert new.start == T0 + 4
    assert new.zones == ("driveway",)
    (loiter,) = [m for m in of(messages, "update") if m.loitering]
    assert loiter.loitering == ("driveway",)
    assert loiter.last_seen == T0 + 8  # 4 s in the zone (from i = 4)
    assert t.objects[0].dwell == {"driveway": 4.0}
    assert of(messages, "end") == []


def test_an_object_that_never_enters_a_zone_is_no_event() -> None:
    t = tracker([Zone(name="door", points=[(0.9, 0.9), (1.0, 0.9), (1.0, 1.0)])])
    messages = run(t, [(float(i), [Detection("person", 0.8, box_at(0.1 + 0.01 * i))]) for i in range(20)])
    assert messages == []
    assert t.counts() == {}
    assert len(t.objects) == 1  # tracked all the same (it may walk in)


def test_min_hits_keeps_a_single_picture_blip_from_being_an_event() -> None:
    t = tracker(minHits=2)
    blip = run(t, [(0, [Detection("person", 0.6, box_at(0.2))]), (1, []), (2, []), (7, [])])
    assert blip == []
    messages = run(
        t, [(8, [Detection("person", 0.6, box_at(0.2))]), (9, [Detection("person", 0.6, box_at(0.2))])]
    )
    (new,) = messages
    assert new.start == T0 + 8  # first seen, not confirmed


def test_updates_say_a_better_snapshot_at_most_every_update_seconds() -> None:
    t = tracker(updateSeconds=5)
    rising = [(float(s), [Detection("person", 0.5 + s * 0.02, box_at(0.05 * s, w=0.1))]) for s in range(20)]
    messages = run(t, rising)
    updates = of(messages, "update")
    assert 3 <= len(updates) <= 4  # 19 s of ever better pictures
    times = [m.last_seen for m in [of(messages, "new")[0], *updates]]
    assert all(b - a >= 5 for a, b in itertools.pairwise(times))
    assert all(m.image is not None for m in updates)  # each carries the better picture
    assert updates[-1].confidence > updates[0].confidence
    same = run(t, [(20.0 + s, [Detection("person", 0.5, box_at(0.05 * (20 + s), w=0.1))]) for s in range(10)])
    # the better picture of 16-19 s went out with the first update the rate allowed; then nothing
    # better, nothing new: no update
    assert [(m.last_seen, m.confidence) for m in of(same, "update")] == [(T0 + 20, 0.88)]


def test_expire_ends_events_when_pictures_stop_and_close_ends_the_rest() -> None:
    t = tracker()
    run(t, [(0, [Detection("person", 0.8, box_at(0.1)), Detection("cat", 0.8, box_at(0.6))])])
    run(t, [(3, [Detection("cat", 0.8, box_at(0.6))])])
    (gone,) = t.expire(T0 + 6)  # no picture since 3: the person (last seen at 0) is 6 s gone
    assert (gone.label, gone.end, gone.end_reason) == ("person", T0, "no_video")
    (stopped,) = t.close()
    assert (stopped.label, stopped.end, stopped.end_reason) == ("cat", T0 + 3, "stopped")
    assert t.objects == []
    assert t.counts() == {}


def test_objects_are_bounded() -> None:
    t = tracker(maxObjects=3)
    run(t, [(0, [Detection("person", 0.8, box_at(0.2 * i, w=0.05)) for i in range(5)])])
    assert len(t.objects) == 3
    assert t.overflow == 2


def test_a_second_box_inside_the_first_is_the_same_object() -> None:
    """yolov3-tiny on the astronaut photo: the whole body at 0.70 and the torso at 0.40 inside it."""
    t = tracker()
    body = Detection("person", 0.70, (0.03, 0.44, 0.33, 0.94))
    torso = Detection("person", 0.40, (0.12, 0.51, 0.24, 0.86))
    cat_on_lap = Detection("cat", 0.5, (0.1, 0.6, 0.2, 0.8))  # inside too, but another label
    messages = run(t, [(s, [torso, body, cat_on_lap]) for s in range(3)])
    assert sorted((m.label, m.confidence) for m in of(messages, "new")) == [("cat", 0.5), ("person", 0.7)]
    assert len(t.objects) == 2


def test_two_pictures_of_a_burst_do_not_make_a_speed() -> None:
    """An RTSP server's first burst: two keyframes arrive 2 ms apart, the box jitters by 0.001; read as a
    speed, that sent the predicted box half a picture away and the object became two."""
    t = tracker()
    cup = [
        Detection("cup", 0.35, box_at(0.73)),
        Detection("cup", 0.36, box_at(0.731)),
        *[Detection("cup", 0.36, box_at(0.73))] * 4,
    ]
    messages = run(t, zip([0.0, 0.002, 1.0, 2.0, 3.0, 4.0], [[d] for d in cup], strict=True))
    assert len(of(messages, "new")) == 1
    assert len(t.objects) == 1
    assert abs(t.objects[0].velocity[0]) < 0.01
