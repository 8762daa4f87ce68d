"""`GET /metrics`: Prometheus text exposition of per-camera counters and process gauges."""

from __future__ import annotations

import time

from aiohttp import web

from vsnative.agent import AgentState
from vsnative.api.keys import SERVICES
from vsnative.api.peers import PEER_FAILURES
from vsnative.api.spec import ApiRoutes, Content
from vsnative.control.outage import UNREACHABLE
from vsnative.parts import PartState

routes = ApiRoutes()

COUNTERS = {
    "packets": "packets received from the camera",
    "bytes": "bytes of compressed media received",
    "keyframes": "video keyframes received",
    "reconnects": "times the stream failed and was reopened",
    "clips": "clips closed",
    "drops": "packets lost, all parts together (see vsnative_camera_lost_total)",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@routes.get(
    "/metrics",
    "Prometheus metrics",
    answers={200: Content("text/plain", "text exposition")},
    errors=(401,),
)
async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    agents = sorted(services.pool.agents, key=lambda a: a.camera.id)
    now = time.time()
    lines: list[str] = []
    for name, help_text in COUNTERS.items():
        lines += [
            f"# HELP vsnative_camera_{name}_total {help_text}",
            f"# TYPE vsnative_camera_{name}_total counter",
        ]
        for agent in agents:
            value = agent.drops if name == "drops" else getattr(agent.counters, name)
            lines.append(f'vsnative_camera_{name}_total{{camera="{_label(agent.camera.id)}"}} {value}')
    lines += [
        "# HELP vsnative_camera_lost_total packets lost, by part (framer: pictures not delivered whole; "
        "recorder; live: viewers that fell behind; detector)",
        "# TYPE vsnative_camera_lost_total counter",
    ]
    for agent in agents:
        camera = _label(agent.camera.id)
        for part, value in agent.losses.items():
            lines.append(f'vsnative_camera_lost_total{{camera="{camera}",part="{_label(part)}"}} {value}')
    lines += [
        "# HELP vsnative_camera_last_clip_age_seconds seconds since the last clip ended",
        "# TYPE vsnative_camera_last_clip_age_seconds gauge",
    ]
    for agent in agents:
        if agent.counters.last_clip_end:
            age = max(0.0, now - agent.counters.last_clip_end)
            lines.append(
                f'vsnative_camera_last_clip_age_seconds{{camera="{_label(agent.camera.id)}"}} {age:.3f}'
            )
    lines += [
        "# HELP vsnative_camera_recording 1 while clips keep closing in time (clipSeconds + GOP + margin)",
        "# TYPE vsnative_camera_recording gauge",
    ]
    for agent in agents:
        recording = agent.recording()
        if recording is not None:
            ok = int(bool(recording["ok"]))
            lines.append(f'vsnative_camera_recording{{camera="{_label(agent.camera.id)}"}} {ok}')
    lines += [
        "# HELP vsnative_camera_online 1 while the camera sends video, as camera_offline/online say it "
        "(debounced; absent until known)",
        "# TYPE vsnative_camera_online gauge",
    ]
    for agent in agents:
        if agent.watch.online is not None:
            lines.append(
                f'vsnative_camera_online{{camera="{_label(agent.camera.id)}"}} {int(agent.watch.online)}'
            )
    lines += [
        "# HELP vsnative_camera_healthy 1 while the camera records (packets flow, nothing lost, clips close)",
        "# TYPE vsnative_camera_healthy gauge",
    ]
    for agent in agents:
        lines.append(f'vsnative_camera_healthy{{camera="{_label(agent.camera.id)}"}} {int(agent.healthy)}')
    lines += [
        "# HELP vsnative_camera_state agent state (1 for the current one)",
        "# TYPE vsnative_camera_state gauge",
    ]
    for agent in agents:
        for state in AgentState:
            value = int(agent.state == state)
            lines.append(
                f'vsnative_camera_state{{camera="{_label(agent.camera.id)}",state="{state.value}"}} {value}'
            )
    lines += [
        "# HELP vsnative_camera_part_up 1 while a guarded part (detector, live view, alerter) runs, 0 when "
        "it failed (restarting), is disabled or stopped",
        "# TYPE vsnative_camera_part_up gauge",
    ]
    for agent in agents:
        camera = _label(agent.camera.id)
        for guarded_part in agent.parts:
            up = int(guarded_part.state == PartState.RUNNING)
            lines.append(
                f'vsnative_camera_part_up{{camera="{camera}",part="{_label(guarded_part.name)}"}} {up}'
            )
    lines += [
        "# HELP vsnative_camera_part_failures_total times a guarded part raised (it is restarted)",
        "# TYPE vsnative_camera_part_failures_total counter",
    ]
    for agent in agents:
        camera = _label(agent.camera.id)
        for guarded_part in agent.parts:
            name, failures = _label(guarded_part.name), guarded_part.failures
            lines.append(f'vsnative_camera_part_failures_total{{camera="{camera}",part="{name}"}} {failures}')
    detecting = [(agent, d) for agent in agents if (d := agent.detection()) is not None]
    for name, kind, help_text, value in (
        ("detector_up", "gauge", "1 while the camera's detector runs, 0 disabled or failed", "up"),
        (
            "frames_analysed_total",
            "counter",
            "pictures that went through the detector's model",
            "framesAnalysed",
        ),
        ("detections_total", "counter", "detections kept (after area and confidence)", "detections"),
        ("events_total", "counter", "detection events started (tracked objects)", "eventsStarted"),
        ("tracked_objects", "gauge", "objects tracked now (moving or stationary)", "tracked"),
    ):
        lines += [f"# HELP vsnative_camera_{name} {help_text}", f"# TYPE vsnative_camera_{name} {kind}"]
        for agent, d in detecting:
            figure: object
            if value == "up":
                figure = int(d["state"] == "running")
            elif value == "tracked":
                figure = len(d["objects"])  # type: ignore[arg-type]  # a list, from DetectorStreamer.stats
            else:
                figure = d[value]
            lines.append(f'vsnative_camera_{name}{{camera="{_label(agent.camera.id)}"}} {figure}')
    lines += [
        "# HELP vsnative_camera_inference_seconds the model's time per picture (median of the latest 200)",
        "# TYPE vsnative_camera_inference_seconds gauge",
    ]
    for agent, d in detecting:
        if d["inferenceP50Ms"] is not None:
            seconds = float(str(d["inferenceP50Ms"])) / 1000
            lines.append(
                f'vsnative_camera_inference_seconds{{camera="{_label(agent.camera.id)}"}} {seconds:.6f}'
            )
    lines += [
        "# HELP vsnative_camera_alerts_total event messages by outcome: published (taken), events "
        "(started), suppressed (events within the cooldown, stored but not sent), dropped (queue full)",
        "# TYPE vsnative_camera_alerts_total counter",
    ]
    for agent, _ in detecting:
        camera = _label(agent.camera.id)
        for outcome, count in agent.alerts.stats().items():
            if outcome != "notices":
                lines.append(f'vsnative_camera_alerts_total{{camera="{camera}",outcome="{outcome}"}} {count}')
    lines += [
        "# HELP vsnative_camera_viewers live viewers (WebRTC) of the camera",
        "# TYPE vsnative_camera_viewers gauge",
    ]
    for agent in agents:
        lines.append(f'vsnative_camera_viewers{{camera="{_label(agent.camera.id)}"}} {agent.viewers}')
    try:  # the local figures are served whatever the backend's state: they show recording goes on
        backlog: int | None = await services.queue.backlog()
    except UNREACHABLE:
        backlog = None
    lines += [
        "# HELP vsnative_backend_up 1 while the control-plane backend (Redis, or the local files) answers",
        "# TYPE vsnative_backend_up gauge",
        f"vsnative_backend_up {int(backlog is not None)}",
        "# HELP vsnative_agents agents running in this process",
        "# TYPE vsnative_agents gauge",
        f"vsnative_agents {len(agents)}",
        "# HELP vsnative_agent_slots_free agents this process could still start",
        "# TYPE vsnative_agent_slots_free gauge",
        f"vsnative_agent_slots_free {services.pool.free_slots}",
        "# HELP vsnative_playlist_clips_unreadable clips left out of playback: their layout cannot be read",
        "# TYPE vsnative_playlist_clips_unreadable gauge",
        f"vsnative_playlist_clips_unreadable {services.playlists.unreadable}",
        "# HELP vsnative_peer_calls_failed_total calls to another pod that got no usable answer, by call "
        "(agents: the cluster's agent list; agent: one agent; relay: live view or a picture passed on)",
        "# TYPE vsnative_peer_calls_failed_total counter",
        *(
            f'vsnative_peer_calls_failed_total{{call="{call}"}} {request.app[PEER_FAILURES].failed[call]}'
            for call in ("agents", "agent", "relay")
        ),
        "# HELP vsnative_viewers live viewers (WebRTC) of all cameras of this process",
        "# TYPE vsnative_viewers gauge",
        f"vsnative_viewers {sum(agent.viewers for agent in agents)}",
    ]
    if backlog is not None:
        lines += [
            "# HELP vsnative_orphan_backlog orphan requests waiting or not yet acknowledged",
            "# TYPE vsnative_orphan_backlog gauge",
            f"vsnative_orphan_backlog {backlog}",
        ]
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )
