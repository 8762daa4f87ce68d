"""The agents this process runs, keyed by camera id: at most one agent per camera, by construction."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from vsnative.agent import Agent, AgentEnv
from vsnative.control.fence import Fence
from vsnative.models import Camera
from vsnative.pipeline import PipelineFile

log = logging.getLogger(__name__)


class AgentPool:
    def __init__(self, env: AgentEnv, pipeline: PipelineFile, max_agents: int) -> None:
        self.env = env
        self.pipeline = pipeline
        self.max_agents = max_agents
        self._agents: dict[str, Agent] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.on_finished: list[Callable[[Agent], None]] = []

    @property
    def agents(self) -> list[Agent]:
        return list(self._agents.values())

    @property
    def free_slots(self) -> int:
        return self.max_agents - len(self._agents)

    def get(self, camera_id: str) -> Agent | None:
        return self._agents.get(camera_id)

    def start(self, camera: Camera, fence: Fence | None = None) -> Agent | None:
        """Start an agent for camera unless one runs already or the pool is full; return it (or None).
        `fence`: the camera's lease, past which the agent writes nothing."""
        if camera.id in self._agents:
            return self._agents[camera.id]
        if self.free_slots <= 0:
            log.warning("pool full (%d agents): camera %s not started", self.max_agents, camera.id)
            return None
        agent = Agent(camera, self.pipeline.for_camera(camera.id), self.env, fence=fence)
        self._agents[camera.id] = agent
        task = asyncio.create_task(agent.run(), name=f"agent-{camera.id}")
        self._tasks[camera.id] = task
        task.add_done_callback(functools.partial(self._finished, camera.id, agent))
        return agent

    def _finished(self, camera_id: str, agent: Agent, task: asyncio.Task[None]) -> None:
        if self._agents.get(camera_id) is agent:
            del self._agents[camera_id]
            del self._tasks[camera_id]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("agent for camera %s crashed", camera_id, exc_info=exc)
        for callback in self.on_finished:
            callback(agent)

    async def stop(self, camera_id: str, grace: float = 10.0) -> bool:
        """Stop exactly this camera's agent and wait until it has closed its files; True when one ran."""
        agent, task = self._agents.get(camera_id), self._tasks.get(camera_id)
        if agent is None or task is None:
            return False
        agent.stop()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return True

    async def stop_all(self, grace: float = 10.0) -> None:
        await asyncio.gather(*(self.stop(cid, grace) for cid in list(self._agents)))
