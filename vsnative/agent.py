"""An agent: one camera's framer, streamers and heartbeat, run as one TaskGroup with an explicit state."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsnative import telemetry
from vsnative.alerters import ALERTERS
from vsnative.alerters.bus import AlertBus
from vsnative.backoff import Backoff
from vsnative.control.fence import Fence
from vsnative.control.outage import BACKEND_ERRORS
from vsnative.counters import AgentCounters
from vsnative.errors import PluginError, StreamError, StreamFailure, VsnError
from vsnative.events import Events, close_open
from vsnative.framers.base import FRAMERS, Framer, FramerSession, pump
from vsnative.health_events import CameraWatch
from vsnative.log import redact, without_userinfo
from vsnative.media.audio import describe as audio_plan
from vsnative.media.fanout import FanOut
from vsnative.media.packets import StreamInfo
from vsnative.media.picture import LatestPicture
from vsnative.media.recover import orphan_parts, recover
from vsnative.media.router import PacketRouter
from vsnative.models import Camera
from vsnative.parts import Part, PartState, ThreadGuard, guarded
from vsnative.pipeline import CameraPipeline
from vsnative.streamers.base import STREAMERS, Streamer, StreamerContext, ThreadedStreamer
from vsnative.streamers.detect import DetectorStreamer
from vsnative.streamers.recorder import Mp4Recorder
from vsnative.streamers.webrtc import WebRtcStreamer
from vsnative.webrtc.ice import IceSettings

log = logging.getLogger(__name__)
THREAD_EXIT_SECONDS = 10.0  # a framer thread notices a stop within its read timeout
LOSS_WINDOW_SECONDS = 10.0  # an agent whose recording lost video this recently is not healthy
LOSS_LOG_SECONDS = 60.0  # losses are logged at most this often per camera (with the counts)
STORE_ERRORS: tuple[type[BaseException], ...] = (*BACKEND_ERRORS, sqlite3.Error)  # the events store's
DRAIN_SECONDS = 5.0  # a stopping agent waits this long at most for its last event messages to go out
WATCH_SECONDS = 1.0  # how often losses and health (events) are looked at
HEARTBEAT_RETRY_SECONDS = 1.0  # a heartbeat that met the backend away is tried again this soon


class AgentState(enum.StrEnum):
    STARTING = "starting"  # connecting for the first time
    RUNNING = "running"  # packets are flowing
    RETRYING = "retrying"  # the stream failed; reconnecting after a backoff
    FAILED = "failed"  # a failure retrying soon cannot fix (credentials, path, codec); still retried slowly
    STOPPED = "stopped"


@dataclass(frozen=True)
class Heartbeat:
    """What an agent reports every heartbeat period (vs-go's fields plus pipeline health)."""

    camera_id: str
    agent_id: str
    startup_time: int
    last_heartbeat: int
    uptime: int
    healthy: bool
    state: AgentState

    def fields(self) -> dict[str, object]:
        """The cameras.json fields this beat writes. An unhealthy agent does not claim to be alive."""
        fields: dict[str, object] = {
            "agentId": self.agent_id,
            "startupTime": self.startup_time,
            "uptime": self.uptime,
        }
        if self.healthy:
            fields["lastHeartbeat"] = self.last_heartbeat
        return fields


HeartbeatSink = Callable[[Heartbeat], Awaitable[None]]


@dataclass
class AgentEnv:
    """What the process lends each agent."""

    recordings_dir: Path
    demux_executor: Executor  # one long-running thread per agent
    io_executor: Executor  # short blocking jobs: muxing, file system
    heartbeat_seconds: float = 30.0
    heartbeat: HeartbeatSink | None = None
    detect_executor: Executor | None = None  # decoding and inference for detector streamers
    mux_executor: Executor | None = None  # the one thread that writes every camera's clips
    events: Events | None = None
    backoff_initial: float = 1.0
    backoff_cap: float = 30.0
    healthy_reset_seconds: float = 30.0
    part_backoff_initial: float = 1.0  # a failed part (detector, live view, alerter) restarts after this,
    part_backoff_cap: float = 60.0  # doubling up to this
    ice: IceSettings | None = None  # for live viewers (webrtc streamer)
    public_url: str = ""  # the service's public address: alert links are absolute with it


class Agent:
    """Runs one camera until `stop()`; reconnects its framer forever with capped, jittered backoff."""

    def __init__(
        self,
        camera: Camera,
        pipeline: CameraPipeline,
        env: AgentEnv,
        agent_id: str | None = None,
        fence: Fence | None = None,
    ) -> None:
        """`fence`: the camera's lease as the manager holds it; past its deadline nothing is written."""
        self.camera = camera
        self.fence = fence
        self.pipeline = pipeline
        self.env = env
        self.agent_id = agent_id or str(uuid.uuid4())
        self.state = AgentState.STARTING
        self.failure: StreamFailure | None = None
        self.last_error = ""  # as a person reads it ("wrong username or password")
        self.last_error_detail = ""  # what the framer said (FFmpeg's text), for the log and `lastErrorDetail`
        self.counters = AgentCounters()
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self.video: dict[str, Any] = {}
        self._session: FramerSession | None = None  # the open connection
        self._framer_lost = 0  # pictures the framer's earlier sessions lost
        self._losing_at = -LOSS_WINDOW_SECONDS - 1.0  # monotonic: when recording last lost video
        self._reported: dict[str, int] = {}  # losses when they were last logged
        self._reported_at = -LOSS_LOG_SECONDS
        self._audio_logged = ""
        self._running_since = 0.0  # wall clock of the current session's first packet
        self._stopping = asyncio.Event()
        self._thread_stop = threading.Event()
        self.fanout = FanOut()
        self.framer: Framer | None = None
        try:
            framer_cls = FRAMERS.get(camera.framerType)
        except PluginError as exc:  # one camera's typo must not stop the others: this agent shows it
            self.state, self.failure = AgentState.FAILED, StreamFailure.CONFIG
            self.last_error = self.last_error_detail = str(exc)
        else:
            framer_config = getattr(pipeline.framers, camera.framerType, None) or framer_cls.config_model()
            self.framer = framer_cls(camera, framer_config)
        self.parts: list[Part] = []  # what runs under a guard: all but the framer and the recorder
        alerters = [ALERTERS.get(cfg.type)(cfg, env.recordings_dir) for cfg in pipeline.alerters]
        for alerter in alerters:
            alerter.part = self._part(f"alerter:{alerter.config.type}")
        self.alerts = AlertBus(pipeline.alerts, alerters, env.events, env.public_url)
        self._alerts_part = self._part("alerts")
        self.context = StreamerContext(
            camera,
            env.recordings_dir,
            env.io_executor,
            self.counters,
            detect_executor=env.detect_executor,
            mux_executor=env.mux_executor,
            alerts=self.alerts,
            fanout=self.fanout,
            ice=env.ice,
            fence=fence,
        )
        self._pump: Future[None] | None = None
        self.streamers: list[Streamer] = [
            STREAMERS.get(cfg.type)(cfg, self.context) for cfg in pipeline.streamers
        ]
        self._threaded = [s for s in self.streamers if isinstance(s, ThreadedStreamer)]
        self._recorder = next((s for s in self.streamers if isinstance(s, Mp4Recorder)), None)
        self._thread_guards = [  # live view's intake, guarded in the framer thread
            ThreadGuard(self._part(s.config.type), s.offer, s.end_session)
            for s in self._threaded
            if not s.essential
        ]
        self._loop_side = [  # the detector: on the loop, each on its own subscription, guarded
            (s, self._part(s.config.type)) for s in self.streamers if not isinstance(s, ThreadedStreamer)
        ]
        self.router = PacketRouter(  # every packet's route from the framer to each streamer
            self.counters,
            self.fanout,
            essential=[s.offer for s in self._threaded if s.essential],  # the recorder
            guarded=self._thread_guards,
            fence=fence,
        )
        self.watch = CameraWatch(camera.id, camera.name, pipeline.health, time.monotonic())
        self.picture = LatestPicture(
            camera.id, lambda: self.router.keyframe
        )  # snapshot.jpg, decoded when asked

    # --- health ----------------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        """True only while the camera records: packets flow, recording loses nothing (nothing in the last
        LOSS_WINDOW_SECONDS) and clips keep closing (see `recording`). Live view and detection have their
        own health (`health()`), which does not make the camera unhealthy."""
        now = time.monotonic()
        recording = self.recording()
        return (
            self._streaming(now)
            and now - self._losing_at > LOSS_WINDOW_SECONDS
            and (recording is None or bool(recording["ok"]))
        )

    def recording(self) -> dict[str, object] | None:
        """Whether the camera records: a clip closed within the recorder's deadline (clipSeconds + one
        GOP + a margin) of now, or of the connection's start; None without a recorder."""
        recorder = self._recorder
        if recorder is None:
            return None
        deadline = recorder.clip_deadline
        last = self.counters.last_clip_end
        waited = time.time() - max(last, self._running_since)
        ok = self.state == AgentState.RUNNING and self._running_since > 0 and waited <= deadline
        age = round(time.time() - last, 1) if last else None
        return {"ok": ok, "lastClipAge": age, "deadline": round(deadline, 1)}

    def health(self) -> dict[str, object]:
        """Per role: recording (what the camera's health is), live view and detection (their parts)."""
        parts = {part.name: part.state.value for part in self.parts}
        online = self.watch.online
        return {
            "availability": None if online is None else ("online" if online else "offline"),
            "recording": self.recording(),
            "live": parts.get("webrtc"),
            "detection": parts.get("detector"),
        }

    @property
    def last_packet_at(self) -> float:
        """Monotonic time of the last packet the framer delivered (0 before the first)."""
        return self.router.last_packet_at

    def _streaming(self, now: float) -> bool:
        """Video packets arrive (what camera_offline/online are about)."""
        return (
            self.state == AgentState.RUNNING
            and self.framer is not None
            and now - self.last_packet_at < self.framer.stall_seconds
        )

    def unhealthy_seconds(self) -> float:
        """How long packets have not flowed (0 while healthy): since the last packet, or since start."""
        if self.healthy:
            return 0.0
        return time.monotonic() - (self.last_packet_at or self._started_mono)

    @property
    def losses(self) -> dict[str, int]:
        """What was lost, by where (each only grows): `framer` pictures it could not deliver whole,
        `recorder` packets its queue, a stalled disk or a timestamp jump (video until the next keyframe)
        cost, `live` packets viewers skipped by falling behind, `fenced` packets not handed on or written
        because the lease was not proven, and other streamers' by their type."""
        session = self._session
        by = self.fanout.dropped_by()
        losses = {
            "framer": self._framer_lost + (session.lost if session is not None else 0),
            "recorder": sum(s.dropped for s in self._threaded),
            "live": by.pop("viewer", 0),
            "fenced": self.router.fenced + (self._recorder.fenced if self._recorder is not None else 0),
        }
        losses.update(by)
        return losses

    @property
    def drops(self) -> int:
        """Everything lost (the sum of `losses`)."""
        return sum(self.losses.values())

    @property
    def live(self) -> WebRtcStreamer | None:
        """The camera's live-view streamer, when its pipeline has one."""
        return next((s for s in self.streamers if isinstance(s, WebRtcStreamer)), None)

    @property
    def viewers(self) -> int:
        live = self.live
        return len(live.viewers) if live is not None else 0

    def snapshot(self) -> dict[str, Any]:
        """State and counters for the API (no credentials)."""
        losses = self.losses
        return {
            "cameraId": self.camera.id,
            "name": self.camera.name,
            "agentId": self.agent_id,
            "framerType": self.camera.framerType,
            "state": self.state.value,
            "healthy": self.healthy,
            "failure": self.failure.value if self.failure else None,
            "lastError": without_userinfo(self.last_error),
            "lastErrorDetail": without_userinfo(self.last_error_detail),
            "startupTime": int(self.started_at),
            "uptime": int(time.time() - self.started_at),
            "video": self.video,
            "streamers": [s.config.type for s in self.streamers],
            "counters": {**self.counters.as_dict(), "drops": sum(losses.values()), "lost": losses},
            "viewers": self.viewers,
            "liveView": self.live.status() if self.live is not None else None,
            "parts": [part.snapshot() for part in self.parts],
            "health": self.health(),
            "route": self.router.route(),
            "detection": self.detection(),
            "snapshots": {"decodes": self.picture.decodes, "failures": self.picture.failures},
        }

    def detection(self) -> dict[str, object] | None:
        """The detector's state and figures and what the alert bus made of them; None without one."""
        detector = next((s for s, _ in self._loop_side if isinstance(s, DetectorStreamer)), None)
        if detector is None:
            return None
        part = next((p for p in self.parts if p.name == "detector"), None)
        stats = detector.stats()
        if part is not None and part.state == PartState.FAILED:
            stats["state"], stats["reason"] = "failed", part.reason
        return {**stats, "alerts": self.alerts.stats()}

    # --- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the agent to finish: the framer stops, streamers drain and close their files."""
        self._stopping.set()
        self._thread_stop.set()

    async def run(self) -> None:
        source = self.camera.safe_url or f"framer {self.camera.framerType}"
        log.info("agent %s starting for camera %s (%s)", self.agent_id, self.camera.id, source)
        loop = asyncio.get_running_loop()
        # the clips a writer left unfinished (killed, or fenced off on a pause): listed before this agent
        # opens its own first clip; finalised below while it records (it holds the lease: nobody else
        # writes this camera's files)
        leftovers = await loop.run_in_executor(
            self.env.io_executor, orphan_parts, self.env.recordings_dir / self.camera.id
        )
        await self._close_open_events()
        alerts = asyncio.create_task(
            guarded(self._alerts_part, self.alerts.run), name=f"alerts-{self.camera.id}"
        )
        try:
            async with asyncio.TaskGroup() as tg:
                loop = asyncio.get_running_loop()
                for threaded in self._threaded:
                    threaded.attach(loop)
                for streamer, part in self._loop_side:
                    tg.create_task(guarded(part, functools.partial(self._run_streamer, streamer, part)))
                if leftovers:
                    tg.create_task(self._recover(leftovers))
                tg.create_task(self._framer_loop())
                tg.create_task(self._heartbeat_loop())
                tg.create_task(self._watch_loop())
        finally:
            self._thread_stop.set()
            self.fanout.close()
            with contextlib.suppress(TimeoutError):  # the detector's last `end` messages go out first
                async with asyncio.timeout(DRAIN_SECONDS):
                    await self.alerts.drain()
            alerts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alerts
            self.state = AgentState.STOPPED
            log.info("agent %s stopped for camera %s", self.agent_id, self.camera.id)

    async def _close_open_events(self) -> None:
        """End the detection events an earlier agent of this camera left in progress (killed, or its pod
        lost): this agent holds the camera now, and its own tracker starts afresh."""
        if self.env.events is None:
            return
        try:
            closed = await asyncio.to_thread(close_open, self.env.events, self.camera.id)
        except STORE_ERRORS as exc:  # the events store away must not keep the camera from recording
            log.warning("camera %s: events left in progress not ended: %s", self.camera.id, exc)
            return
        if closed:
            log.info(
                "camera %s: %d events left in progress by an earlier agent ended", self.camera.id, closed
            )

    async def _recover(self, parts: list[Path]) -> None:
        """Finalise the `.part` clips found at start (media/recover.py), while the lease is proven."""
        loop = asyncio.get_running_loop()
        recovered = removed = 0
        for part in parts:
            if self._stopping.is_set() or (self.fence is not None and not self.fence.valid()):
                break
            try:
                clip = await loop.run_in_executor(self.env.io_executor, recover, part)
            except Exception:  # a recovery that fails must not stop recording (logged with its traceback)
                log.exception("camera %s: %s not recovered", self.camera.id, part.name)
                self.counters.unrecoverable += 1
                continue
            if clip is None:
                removed += 1
                self.counters.unrecoverable += 1
            else:
                recovered += 1
                self.counters.recovered += 1
        log.info(
            "camera %s: %d unfinished clips finalised, %d unreadable removed",
            self.camera.id,
            recovered,
            removed,
        )

    def _part(self, name: str) -> Part:
        part = Part(
            name, self.camera.id, backoff=Backoff(self.env.part_backoff_initial, self.env.part_backoff_cap)
        )
        self.parts.append(part)
        return part

    async def _run_streamer(self, streamer: Streamer, part: Part) -> None:
        """One run of a loop-side streamer (the detector), on a subscription of its own."""
        sub = self.fanout.subscribe(streamer.config.type, streamer.queue_packets)
        try:
            await streamer.run(sub)
        finally:
            sub.unsubscribe()
        if streamer.disabled:
            part.set(PartState.DISABLED, streamer.disabled)

    async def _framer_loop(self) -> None:
        if self.framer is None:
            log.error("camera %s: %s", self.camera.id, self.last_error)
            try:
                await self._stopping.wait()
            finally:
                self.fanout.close()
            return
        framer = self.framer
        loop = asyncio.get_running_loop()
        backoff = Backoff(self.env.backoff_initial, self.env.backoff_cap)
        session_no = 0
        try:
            while not self._stopping.is_set():
                session_no += 1
                opened = time.monotonic()
                try:
                    with telemetry.span("agent.start", {"camera.id": self.camera.id, "session": session_no}):
                        session = await loop.run_in_executor(self.env.demux_executor, framer.open, session_no)
                    try:
                        await self._stream(loop, session, framer.stall_seconds)
                    finally:
                        for streamer in self._threaded:  # the framer thread is done with them
                            streamer.end_session()
                    return  # stopped on request
                except StreamError as exc:
                    error = exc
                except (VsnError, OSError, ValueError, RuntimeError) as exc:
                    error = StreamError(StreamFailure.MALFORMED, redact(str(exc)))
                if self._stopping.is_set():
                    return
                if time.monotonic() - opened > self.env.healthy_reset_seconds:
                    backoff.reset()
                self.failure = error.failure
                self.last_error, self.last_error_detail = error.readable, str(error)
                self.state = AgentState.FAILED if error.permanent else AgentState.RETRYING
                delay = backoff.cap if error.permanent else backoff.next_delay()
                self.counters.reconnects += 1
                log.warning("camera %s: %s; retrying in %.1f s", self.camera.id, error, delay)
                telemetry.event(
                    "agent.reconnect",
                    {
                        "camera.id": self.camera.id,
                        "failure": error.failure.value,
                        "retry_in_s": round(delay, 3),
                    },
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            self._thread_stop.set()
            if self._pump is not None and not self._pump.done():  # cancelled: let the thread see the stop
                await asyncio.wait({asyncio.wrap_future(self._pump)}, timeout=THREAD_EXIT_SECONDS)
            for streamer in self._threaded:
                await streamer.finish()
            self.fanout.close()  # only the producer ends the stream

    async def _stream(
        self, loop: asyncio.AbstractEventLoop, session: FramerSession, stall_seconds: float
    ) -> None:
        video = session.info.video
        self.video = {"codec": video.codec, "width": video.width, "height": video.height}
        self._thread_stop.clear()
        if self._stopping.is_set():
            self._thread_stop.set()

        self.router.start(loop, functools.partial(self._running, session.info))

        def run() -> None:
            try:
                pump(session, self.router.deliver, self._thread_stop, stall_seconds)
            finally:
                session.close()

        self._session = session
        try:
            self._pump = self.env.demux_executor.submit(run)
            await asyncio.wrap_future(self._pump)
        finally:
            self._framer_lost += session.lost
            self._session = None

    def _running(self, info: StreamInfo) -> None:
        self._running_since = time.time()  # the session's first packet: its first clip is due from here
        if self.state != AgentState.RUNNING:
            self.state = AgentState.RUNNING
            self.failure = None
            log.info("camera %s: streaming %s", self.camera.id, self.video)
        audio = audio_plan(info.audio, info.audio_left_out)
        if audio != self._audio_logged:  # once per camera, and again only when it changes
            self._audio_logged = audio
            log.info("camera %s: %s", self.camera.id, audio)

    async def _watch_loop(self) -> None:
        """Once a second: losses (health; logged at most once a minute, with counts) and the camera's health
        events (offline/online, recording stalled/resumed, detector failed), sent through the alert bus."""
        recorded = 0
        detector = next((part for part in self.parts if part.name == "detector"), None)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), WATCH_SECONDS)
            if self._stopping.is_set():
                return  # a stop (shutdown, camera moved) is not the camera going offline
            now = time.monotonic()
            recording = self.recording()
            for notice in self.watch.observe(
                now,
                streaming=self._streaming(now),
                recording_ok=None if recording is None else bool(recording["ok"]),
                reason=self.last_error,
                detector=detector,
            ):
                self.alerts.notify(notice)
            losses = self.losses
            if losses["framer"] + losses["recorder"] > recorded:
                recorded = losses["framer"] + losses["recorder"]
                self._losing_at = now
            new = {part: n - self._reported.get(part, 0) for part, n in losses.items()}
            if any(new.values()) and now - self._reported_at >= LOSS_LOG_SECONDS:
                log.warning(
                    "camera %s: packets lost since %s: %s (totals: %s)",
                    self.camera.id,
                    "the last report" if self._reported else "start",
                    ", ".join(f"{part} {n}" for part, n in new.items() if n),
                    ", ".join(f"{part} {n}" for part, n in losses.items()),
                )
                self._reported, self._reported_at = losses, now

    async def _heartbeat_loop(self) -> None:
        first = True  # the first beat, at start, records agentId and startupTime at once
        failed = False  # the last beat met the backend away: the next one a second later, not a period
        while not self._stopping.is_set():
            if not first:
                period = min(HEARTBEAT_RETRY_SECONDS, self.env.heartbeat_seconds) if failed else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), period or self.env.heartbeat_seconds)
            first = False
            if self._stopping.is_set() or self.env.heartbeat is None:
                continue
            now = time.time()
            beat = Heartbeat(
                camera_id=self.camera.id,
                agent_id=self.agent_id,
                startup_time=int(self.started_at),
                last_heartbeat=int(now),
                uptime=int(now - self.started_at),
                healthy=self.healthy,
                state=self.state,
            )
            try:
                await self.env.heartbeat(beat)
            except VsnError as exc:
                if not failed:  # once per outage
                    log.warning("camera %s: heartbeat not written: %s", self.camera.id, exc)
                failed = True
            else:
                failed = False
