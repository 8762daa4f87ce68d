"""The web UI in headless Debian Chromium, end to end. Run by tests/test_e2e_ui.py inside a network
namespace that has only loopback, so WebRTC can touch no other address:

    python -m tests.support.ui_check WORK_DIR H264_FILE H265_FILE ARTIFACTS_DIR

Starts a fake camera (with credentials), `vsnative serve` and Chromium (Playwright), checks what a user
checks, saves a screenshot and the figures to ARTIFACTS_DIR, and exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Response, sync_playwright

from tests.support.camera import FakeCamera
from tests.support.onnx_models import red_square_model
from tests.support.service import Service, write_settings

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
TOKEN = "ui-check-token-0123456789"  # noqa: S105 - the service's API token in this test
SECRET = "s3cret-Pa55"  # noqa: S105 - the fake camera's password, which must never reach the page
FRAMES_DECODED = """() => window.vsnLive && window.vsnLive.pc.getStats().then((stats) => {
  let frames = 0;
  stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded; });
  return frames;
})"""

RECEIVE_TO_PRESENT = """() => new Promise((resolve) => {
  const video = window.vsnLive.video;
  const delays = [];
  setTimeout(() => resolve(delays), 5000);
  const step = (now, meta) => {
    if (meta.receiveTime) delays.push(meta.presentationTime - meta.receiveTime);
    if (delays.length >= 50) resolve(delays); else video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
})"""


def frames_decoded(page: Page) -> int:
    return int(page.evaluate(FRAMES_DECODED) or 0)


def wait_until(what: str, check: Any, seconds: float) -> Any:
    for _ in range(int(seconds / 0.2)):
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")


def main(work: Path, h264: Path, h265: Path, artifacts: Path) -> None:
    artifacts.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    mounts = {"/live": str(h264), "/yard": f"{h265},codec=h265"}
    # a detector that finds what is red: the test pictures' red and magenta bars, a detection event that
    # the timeline marks
    names = work / "names.txt"
    names.write_text("red\n")
    model = red_square_model(work / "red.onnx")
    detector = {"type": "onnxYolo", "model": str(model), "classNames": str(names)}
    with FakeCamera(mounts, auth=f"admin:{SECRET}") as camera:
        pipeline = {
            "defaults": {
                "streamers": [
                    {"type": "mp4Recorder", "clipSeconds": 2},
                    {"type": "webrtc"},
                    {"type": "detector", "detector": detector},
                ],
                "health": {"offlineAfterSeconds": 2},
            }
        }
        cameras = [
            {"id": "door", "name": "Front door", "rtspUrl": camera.url("/live", f"admin:{SECRET}")},
            {"id": "yard", "name": "Yard", "rtspUrl": camera.url("/yard", f"admin:{SECRET}")},
            # a camera set up with a path it does not have: what is wrong, in words, and an event
            {"id": "gone", "name": "Gone", "rtspUrl": camera.url("/no-such-path", f"admin:{SECRET}")},
        ]
        settings = write_settings(work / "settings", cameras, pipeline)
        service = Service(
            settings, work / "rec", "--webrtc-host-addresses", "127.0.0.1", env={"VSN_API_TOKEN": TOKEN}
        ).start()
        try:
            wait_until("a recorded clip", lambda: service.get("/api/cameras/door/clips")["clips"], 30)
            check_ui(service, artifacts, figures)
        finally:
            service.stop()
        assert "Traceback" not in service.log(), service.log()[-3000:]
        assert SECRET not in service.log(), "the camera password reached the log"
    (artifacts / "ui.json").write_text(json.dumps(figures, indent=2))


def check_ui(service: Service, artifacts: Path, figures: dict[str, Any]) -> None:
    bodies: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))

        failed: list[str] = []

        def keep(response: Response) -> None:
            if response.status >= 400:
                failed.append(f"{response.status} {response.request.method} {response.url}")
            if (
                "/api/" in response.url
                and response.status < 300
                and "json" in response.headers.get("content-type", "")
            ):
                bodies.append(response.text())

        page.on("response", keep)
        page.goto(service.base + "/")
        # the API wants a token: the page asks for it once, then shows the cameras
        page.locator("#token").fill(TOKEN)
        page.get_by_role("button", name="Use").click()
        card = page.locator('[data-camera="door"]')
        card.locator(".state.running").wait_for(timeout=30_000)
        assert "Front door" in card.inner_text()

        # every camera's latest picture is in the grid (a placeholder with its state when it has none),
        # refreshed every few seconds
        def picture(camera_id: str) -> list[Any]:
            return list(
                page.evaluate(
                    '(id) => { const i = document.querySelector(`img[data-picture="${id}"]`); return i'
                    " ? [i.complete, i.naturalWidth, i.naturalHeight, i.currentSrc] : [false, 0, 0, ''] }",
                    camera_id,
                )
            )

        for camera_id in ("door", "yard", "gone"):
            wait_until(f"{camera_id}'s picture", lambda c=camera_id: picture(c)[1] > 0, 20)
        assert picture("door")[1:3] == [640, 360], picture("door")  # the 1280x720 camera, for a tile
        first_src = picture("door")[3]
        wait_until(
            "the picture to refresh", lambda: picture("door")[3] != first_src and picture("door")[1], 15
        )
        with urllib.request.urlopen(  # noqa: S310 - loopback
            f"{service.base}/api/cameras/gone/snapshot.jpg?access_token={TOKEN}", timeout=5
        ) as resp:
            assert resp.headers["X-Vsn-Snapshot"] == "placeholder"  # no picture: what it shows says why
        with urllib.request.urlopen(  # noqa: S310 - loopback
            f"{service.base}/api/cameras/door/snapshot.jpg?access_token={TOKEN}", timeout=5
        ) as resp:
            assert resp.headers["X-Vsn-Snapshot"] == "picture"
        page.screenshot(path=str(artifacts / "ui-grid.png"), full_page=True)

        # an H.265 camera records, but a browser cannot show it live as it is: its card says why, and
        # keeps saying it across the grid's refreshes
        yard = page.locator('[data-camera="yard"]')
        yard.locator(".live-unavailable").wait_for(timeout=30_000)
        time.sleep(2.5)  # one refresh later
        assert "H.264 only" in yard.locator(".live-unavailable").inner_text()
        assert yard.get_by_role("button", name="Live").is_disabled()

        # live view, in a dialog in view: frames are decoded and the video has the camera's size
        started = time.monotonic()
        card.get_by_role("button", name="Live").click()
        page.locator("#live-dialog").wait_for(state="visible", timeout=5_000)
        first = wait_until("a decoded live frame", lambda: frames_decoded(page), 20)
        figures["firstFrameSeconds"] = round(time.monotonic() - started, 3)
        time.sleep(2)
        later = frames_decoded(page)
        assert later > first + 20, f"framesDecoded grew from {first} to {later} in 2 s"
        figures["framesDecodedIn2s"] = later - first
        # Chromium's own part of the latency: last packet of a frame received -> frame presented
        delays = page.evaluate(RECEIVE_TO_PRESENT)
        if delays:
            figures["receiveToPresentMs"] = {
                "p50": round(sorted(delays)[len(delays) // 2], 1),
                "max": round(max(delays), 1),
                "frames": len(delays),
            }
        size = page.evaluate("() => [window.vsnLive.video.videoWidth, window.vsnLive.video.videoHeight]")
        assert size == [1280, 720], size
        viewers = service.get("/api/cameras/door/viewers")["viewers"]
        assert [v["state"] for v in viewers] == ["connected"], viewers
        check_live_dialog(page, service, artifacts, figures)

        # recordings: the day's clips are listed by hour; one plays in the page and can be downloaded
        card.get_by_role("button", name="Recordings").click()
        page.locator("#clips-list button").first.click()
        wait_until(
            "the clip to play",
            lambda: page.evaluate("() => document.getElementById('clip-video').readyState >= 2"),
            15,
        )
        clip = page.evaluate(
            "() => { const v = document.getElementById('clip-video');"
            " return [v.videoWidth, v.videoHeight, v.duration]; }"
        )
        assert clip[:2] == [1280, 720], clip
        assert clip[2] > 1, clip
        href = page.locator("#clip-download").get_attribute("href") or ""
        assert "access_token=" in href  # a plain link cannot carry an Authorization header
        with urllib.request.urlopen(service.base + href, timeout=5) as resp:  # noqa: S310 - loopback
            assert resp.read(12)[4:8] == b"ftyp", "the download link does not give an MP4"
        figures["clipSeconds"] = round(clip[2], 2)
        page.screenshot(path=str(artifacts / "ui.png"), full_page=True)

        # the exclude toggle: the agent stops, the live view ends, the badge says so
        card.get_by_label("exclude door").check()
        card.locator(".state.excluded").wait_for(timeout=20_000)
        assert wait_until("the viewer to be let go", lambda: not service.agents().get("door"), 20) is True
        page.screenshot(path=str(artifacts / "ui-excluded.png"), full_page=True)

        # a camera that cannot stream says why as a person reads it, inside its card; FFmpeg's words are
        # in the title; its camera_offline event is in the events list's camera health
        gone = page.locator('[data-camera="gone"]')
        reason = gone.locator(".error-text")
        reason.wait_for(timeout=20_000)
        assert reason.inner_text() == "path not found on the camera", reason.inner_text()
        assert "404" in (reason.get_attribute("title") or ""), reason.get_attribute("title")
        fits = page.evaluate(
            "() => { const c = document.querySelector('[data-camera=\"gone\"]');"
            " return c.scrollWidth <= c.clientWidth; }"
        )
        assert fits, "the error overflows its camera card"
        page.select_option("#events-kind", "health")
        offline = page.locator('#events-list li[data-kind="camera_offline"]')
        wait_until("the camera_offline event in the list", lambda: offline.count() >= 1, 20)
        listed = offline.first.inner_text()
        assert "camera offline · gone" in listed, listed
        assert "path not found on the camera" in listed, listed
        assert page.locator('#events-list li[data-kind="detection"]').count() == 0
        page.screenshot(path=str(artifacts / "ui-health.png"), full_page=True)

        check_timeline(page, service, artifacts, figures)

        page_text = page.content() + "\n".join(bodies)
        assert SECRET not in page_text, "the camera password reached the page"
        assert "admin:" not in page_text, "the camera credentials reached the page"
        # the two 401s before the token was given are expected; nothing else may fail
        failed = [f for f in failed if not f.startswith("401 ")]
        errors = [e for e in console if e.startswith("error") and "status of 401" not in e]
        assert not errors, (errors, failed)
        browser.close()


def in_view(page: Page, selector: str) -> bool:
    """The element lies wholly inside the browser's window (not below the grid, off-screen)."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return bool(box and size and box["y"] >= 0 and box["y"] + box["height"] <= size["height"])


def check_live_dialog(page: Page, service: Service, artifacts: Path, figures: dict[str, Any]) -> None:
    """The live dialog: in view; a 2x2 multi-view plays the camera that can be shown live and shows the
    others' pictures with why they cannot; fullscreen; closing it ends the camera's viewer."""
    assert in_view(page, "#live-grid video"), "the live video is not in view"
    page.screenshot(path=str(artifacts / "ui-live.png"))
    page.get_by_role("button", name="2 by 2 cameras").click()
    tiles = page.locator("#live-grid .tile")
    wait_until("four tiles", lambda: tiles.count() == 4, 5)
    order = [tiles.nth(i).get_attribute("data-live-camera") for i in range(4)]
    assert order[0] == "door", order  # the camera it was opened on comes first
    started = time.monotonic()
    wait_until("a decoded frame in the 2x2 view", lambda: frames_decoded(page), 20)
    figures["multiViewFirstFrameSeconds"] = round(time.monotonic() - started, 3)
    yard = page.locator('[data-live-camera="yard"]')
    assert "H.264 only" in yard.locator(".live-status").inner_text()
    wait_until(
        "yard's picture in its tile",
        lambda: page.evaluate("() => document.querySelector('[data-live-camera=\"yard\"] img').naturalWidth"),
        15,
    )
    assert page.locator('[data-live-camera="gone"] img').count() == 1  # its placeholder says why
    assert in_view(page, "#live-grid .tile:nth-child(4)"), "the 2x2 view does not fit the window"
    page.get_by_role("button", name="Fullscreen").click()
    wait_until(
        "fullscreen",
        lambda: page.evaluate(
            "() => document.fullscreenElement && document.fullscreenElement.id === 'live-body'"
        ),
        5,
    )
    page.screenshot(path=str(artifacts / "ui-live-2x2.png"))
    page.get_by_role("button", name="Fullscreen").click()
    wait_until("fullscreen left", lambda: page.evaluate("() => !document.fullscreenElement"), 5)
    page.locator("#live-close").click()
    page.locator("#live-dialog").wait_for(state="hidden", timeout=5_000)
    wait_until(
        "the viewer to end with the dialog",
        lambda: service.get("/api/cameras/door/viewers")["viewers"] == [],
        10,
    )


PLAYBACK = """() => { const v = window.vsnTimeline.video; const b = [];
  for (let i = 0; i < v.buffered.length; i++) b.push([v.buffered.start(i), v.buffered.end(i)]);
  return {t: v.currentTime, ready: v.readyState, paused: v.paused, rate: v.playbackRate, buffered: b,
          errors: window.vsnTimeline.errors(), error: v.error && v.error.message}; }"""
# seek to a wall-clock time; the media time of the first frame presented after it, and how long it took
SEEK_TO_FRAME = """(wall) => new Promise((resolve) => {
  const v = window.vsnTimeline.video;
  const asked = performance.now();
  v.requestVideoFrameCallback((now, meta) => resolve([meta.mediaTime, performance.now() - asked]));
  window.vsnTimeline.seek(wall);
  setTimeout(() => resolve(null), 10000);
})"""


def check_timeline(page: Page, service: Service, artifacts: Path, figures: dict[str, Any]) -> None:
    """Recordings as one continuous playback: the door camera, excluded above, records again, leaving a
    gap; the timeline plays across clip boundaries and the gap, and a seek shows the picture of that time
    (the presented frame's own media time, mapped by the playlist)."""
    card = page.locator('[data-camera="door"]')
    time.sleep(3)  # excluded a while: a gap of seconds in its recordings
    card.get_by_label("exclude door").uncheck()
    card.locator(".state.running").wait_for(timeout=30_000)
    clips = service.get("/api/cameras/door/clips")["clips"]
    wait_until(
        "3 clips after the gap",
        lambda: len(service.get("/api/cameras/door/clips")["clips"]) >= len(clips) + 3,
        30,
    )
    loads = page.evaluate("() => window.vsnTimeline ? window.vsnTimeline.loads() : 0")
    asked = time.monotonic()
    card.get_by_role("button", name="Recordings").click()
    wait_until("the playlist", lambda: page.evaluate("() => window.vsnTimeline.loads()") > loads, 15)
    wait_until(
        "the first recorded picture",
        lambda: page.evaluate("() => window.vsnTimeline.video.readyState >= 2"),
        15,
    )
    figures["vodFirstPictureSeconds"] = round(time.monotonic() - asked, 3)  # click -> a frame to show
    segments = page.evaluate("() => window.vsnTimeline.segments()")
    gaps = [
        i
        for i in range(1, len(segments))
        if segments[i]["wall"] - segments[i - 1]["wall"] - segments[i - 1]["duration"] > 1
    ]
    gap = gaps[-1] if gaps else 0
    assert gap >= 3, [(round(g["wall"] - segments[0]["wall"], 2), g["duration"]) for g in segments]
    assert page.locator("#timeline .span").count() >= 2  # recorded, gap, recorded
    marks = page.locator('#timeline .mark[data-kind="detection"]').count()
    assert marks >= 1, "the door's detection event is not on its timeline"
    # play from three clips before the gap to past it, at 2x: the video advances across every boundary
    start = segments[gap - 3]
    page.evaluate(
        "(w) => { window.vsnTimeline.seek(w); window.vsnTimeline.video.play(); }", start["wall"] + 0.05
    )
    page.get_by_role("button", name="2x").click()
    frames_before = page.evaluate("() => window.vsnTimeline.video.getVideoPlaybackQuality().totalVideoFrames")
    past = segments[gap]["t"] + 1.0
    try:
        wait_until(
            "playback across 3 clips and the gap",
            lambda: page.evaluate("() => window.vsnTimeline.video.currentTime") > past,
            30,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {page.evaluate(PLAYBACK)}, wanted {past}, {segments}") from None
    frames = (
        page.evaluate("() => window.vsnTimeline.video.getVideoPlaybackQuality().totalVideoFrames")
        - frames_before
    )
    media = past - start["t"]
    assert frames >= media * 25 * 0.5, (frames, media)  # decoded pictures, not a stuck clock
    figures["vodFramesAcrossGap"] = frames
    wall_now = float(page.locator("#vod-time").get_attribute("data-wall") or 0)
    assert wall_now > segments[gap]["wall"], "the wall clock shown is past the gap"
    # seek to a wall-clock time: the frame presented is the one recorded then
    page.evaluate("() => window.vsnTimeline.video.pause()")
    target = segments[gap - 2]["wall"] + 0.52  # back before the gap: a frame other than the one shown
    presented = page.evaluate(SEEK_TO_FRAME, target)
    assert presented is not None, "no frame presented within 10 s of the seek"
    media_time, took = presented
    shown = page.evaluate("(t) => window.vsnTimeline.wallAt(t)", media_time)
    assert abs(shown - target) <= 0.05, (shown, target)  # within a frame (25 fps)
    figures["vodSeekToFrameMs"] = round(took, 1)
    # and by a click on the timeline: playback goes on from about there (one pixel is seconds here)
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    page.locator("#timeline").scroll_into_view_if_needed()
    page.locator("#timeline").click(position={"x": box["width"] * 0.98, "y": box["height"] / 2})
    wait_until(
        "playback after the click", lambda: not page.evaluate("() => window.vsnTimeline.video.paused"), 10
    )
    time.sleep(2)
    # what hls.js said and recovered from; nothing that stopped playback reached the page
    figures["vodErrors"] = page.evaluate("() => window.vsnTimeline.errors()")
    figures["vodRecoveries"] = page.evaluate("() => window.vsnTimeline.recoveries()")
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    assert page.locator("#vod-export").get_attribute("href"), "the span can be downloaded"
    check_selection_download(page, service)
    page.screenshot(path=str(artifacts / "ui-timeline.png"), full_page=True)


def check_selection_download(page: Page, service: Service) -> None:
    """A drag on the timeline selects a span; the download link gives that span of the recordings."""
    loads = page.evaluate("() => window.vsnTimeline.loads()")
    page.select_option("#vod-zoom", label="10 minutes")  # 0.6 s a pixel: the minute recorded is wide
    wait_until("the 10 minutes", lambda: page.evaluate("() => window.vsnTimeline.loads()") > loads, 15)
    segments = page.evaluate("() => window.vsnTimeline.segments()")
    first, last = segments[max(1, len(segments) - 6)], segments[-1]
    a, b = first["wall"] + 0.5, last["wall"] + last["duration"]
    start, end = page.evaluate("() => window.vsnTimeline.range()")
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * (a - start) / (end - start), y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (b - start) / (end - start), y, steps=8)
    page.mouse.up()
    selection = page.evaluate("() => window.vsnTimeline.selection()")
    assert selection, "the drag selected nothing"
    px = (end - start) / box["width"]  # seconds a pixel stands for
    assert abs(selection[0] - a) <= 2 * px, (selection, a, px)
    assert abs(selection[1] - b) <= 2 * px, (selection, b, px)
    link = page.locator("#vod-export")
    assert "Download the selection" in link.inner_text(), link.inner_text()
    assert page.locator("#timeline-selection").count() == 1
    href = link.get_attribute("href") or ""
    with urllib.request.urlopen(service.base + href, timeout=30) as resp:  # noqa: S310 - loopback
        assert resp.read(12)[4:8] == b"ftyp", "the selection's download is not an MP4"
        started = float(resp.headers["X-Vsn-Start-Unix"])
        duration = float(resp.headers["X-Vsn-Duration"])
    # the recordings of the selection: from its first keyframe (the clips' start: at most a clip
    # earlier) to its end (the clip ending it: at most a clip later), so nothing of it is missing
    assert started <= selection[0] + 0.05, (started, selection)
    assert started + duration >= min(selection[1], b) - 0.3, (started, duration, selection)
    assert duration <= selection[1] - selection[0] + 2 * first["duration"] + 1, (duration, selection)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
