"""`GET /api/agents`: state and counters of the agents of the whole cluster, each with its manager
(`?scope=local`: this process's only); `GET /api/agents/{cameraId}`: one camera's agent, from its owner."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vsnative.api.keys import SERVICES
from vsnative.api.peers import PEER_FAILURES, cluster_agents, get_json, owner_url, this_manager
from vsnative.api.schemas import Agent, AgentList, AgentQuery
from vsnative.api.spec import ApiRoutes, query, reply

routes = ApiRoutes()


@routes.get(
    "/api/agents",
    "agents of every live manager (each with its `manager`); scope=local: this process's only",
    query=AgentQuery,
    answers={200: AgentList},
    errors=(400, 401, 503),
)
async def list_agents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    pool = services.pool
    me = this_manager(services)
    agents = [Agent.model_validate({**a.snapshot(), "manager": me}) for a in pool.agents]
    unreachable: list[str] = []
    if query(request, AgentQuery).scope == "cluster":
        others, unreachable = await cluster_agents(request)
        agents += others
    listed = AgentList(
        maxAgents=pool.max_agents,
        manager=me,
        agents=sorted(agents, key=lambda a: (a.cameraId, a.manager)),
        unreachable=unreachable,
    )
    return reply(AgentList, listed)


@routes.get(
    "/api/agents/{camera_id}",
    "the camera's agent, from the manager that runs it",
    answers={200: Agent},
    errors=(401, 404, 503),
)
async def get_agent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    agent = services.pool.get(camera_id)
    if agent is not None:
        return reply(Agent, {**agent.snapshot(), "manager": this_manager(services)})
    url = await owner_url(services, camera_id)
    if url is not None:
        try:  # a ValidationError is a ValueError: a peer of another version, answering what we cannot read
            listed = AgentList.model_validate(await get_json(request, f"{url}/api/agents?scope=local"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            request.app[PEER_FAILURES].failure("agent", url, exc)
            raise web.HTTPServiceUnavailable(
                text=f"the manager running camera {camera_id!r} does not answer", headers={"Retry-After": "5"}
            ) from exc
        request.app[PEER_FAILURES].answered(url)
        for found in listed.agents:
            if found.cameraId == camera_id:
                return reply(Agent, found)
    raise web.HTTPNotFound(text=f"no agent runs camera {camera_id!r}")
