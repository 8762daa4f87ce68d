"""One API from any pod: what a pod does not hold itself it asks the pod that does.

Every manager announces its advertised URL in the registry (`--advertise-url`, default
http://<host>:<port>). A pod answers `GET /api/agents` with the agents of every live manager (its own, and
each peer's `?scope=local` answer, fetched at once with a short timeout; a peer that does not answer is
named in `unreachable`), `GET /api/agents/{id}` from the owner, passes live view's signalling (a WHEP
offer, the viewer's DELETE) for a camera it does not run on to the owner and its answer back (a browser
cannot follow a 307 to another origin, and a pod's advertised URL may be reachable only inside the
cluster: the media itself then flows between the owner and the browser, by the ICE candidates of the
owner's answer), and a camera's picture likewise. Clips and exports need
no hop: every pod reads the same recordings volume. Peers are called with this process's own bearer
token (all pods of a deployment share it).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from vsnative.api.keys import SERVICES, Services
from vsnative.api.schemas import Agent, AgentList

PEER_TIMEOUT_SECONDS = 2.0
RELAY_TIMEOUT_SECONDS = 10.0  # a WHEP offer: the owner gathers its ICE candidates before it answers
PEERS = web.AppKey("peers", aiohttp.ClientSession)
log = logging.getLogger(__name__)


class PeerFailures:
    """Calls to other pods that got no usable answer: counted by call (/metrics
    `vsnative_peer_calls_failed_total`), and logged once when a peer stops answering and once when it
    answers again, not per request (a browser polls /api/agents every few seconds)."""

    def __init__(self) -> None:
        self.failed: collections.Counter[str] = collections.Counter()  # by call: agents, agent, relay
        self._down: set[str] = set()  # peers whose last call failed

    def failure(self, call: str, peer: str, exc: BaseException) -> None:
        self.failed[call] += 1
        if peer not in self._down:
            self._down.add(peer)
            log.warning(
                "peer %s does not answer (%s: %s); counted in vsnative_peer_calls_failed_total, logged "
                "again when it answers",
                peer,
                type(exc).__name__,
                str(exc)[:200],
            )

    def answered(self, peer: str) -> None:
        if peer in self._down:
            self._down.discard(peer)
            log.info("peer %s answers again", peer)


PEER_FAILURES = web.AppKey("peer_failures", PeerFailures)


async def peer_session(app: web.Application) -> AsyncIterator[None]:
    """The client session for peer calls, as long as the app lives (its cleanup context)."""
    timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[PEERS] = session
        yield


def this_manager(services: Services) -> str:
    return services.manager.id if services.manager is not None else services.settings.manager_id


async def peers(services: Services) -> list[dict[str, Any]]:
    """The other live managers that advertise a URL."""
    me = this_manager(services)
    return [m for m in await services.registry.managers() if m.get("id") != me and m.get("url")]


async def owner_url(services: Services, camera_id: str) -> str | None:
    """The advertised URL of the manager that holds the camera's lease, when it is another one."""
    holder = (await services.leases.holders([camera_id])).get(camera_id)
    if holder is None or holder.owner == this_manager(services):
        return None
    for manager in await services.registry.managers():
        if manager.get("id") == holder.owner and manager.get("url"):
            return str(manager["url"]).rstrip("/")
    return None


async def relay_to_owner(
    request: web.Request, camera_id: str, body: bytes | None = None
) -> web.Response | None:
    """The same request answered by the pod that runs the camera, when another one does (None when none
    does). The answer's status, body and WHEP headers (Location: a path, which this pod relays in turn;
    Link: the ICE servers; Retry-After; X-Vsn-*: what a picture is) are passed back as they are. 503 when
    the owner does not answer."""
    url = await owner_url(request.app[SERVICES], camera_id)
    if url is None:
        return None
    headers = {**_headers(request), "Content-Type": request.headers.get("Content-Type", "")}
    try:
        async with request.app[PEERS].request(
            request.method,
            url + request.path_qs,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=RELAY_TIMEOUT_SECONDS),
        ) as resp:
            answer = await resp.read()
            response = web.Response(status=resp.status, body=answer)
            for name in ("Content-Type", "Location", "Retry-After", "Cache-Control"):
                if name in resp.headers:
                    response.headers[name] = resp.headers[name]
            for name in (n for n in resp.headers if n.lower().startswith("x-vsn-")):
                response.headers[name] = resp.headers[name]
            for link in resp.headers.getall("Link", []):
                response.headers.add("Link", link)
            request.app[PEER_FAILURES].answered(url)
            return response
    except (aiohttp.ClientError, TimeoutError) as exc:
        request.app[PEER_FAILURES].failure("relay", url, exc)
        raise web.HTTPServiceUnavailable(
            text=f"the manager running camera {camera_id!r} does not answer", headers={"Retry-After": "5"}
        ) from exc


def _headers(request: web.Request) -> dict[str, str]:
    token = request.app[SERVICES].settings.bearer_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


async def get_json(request: web.Request, url: str) -> Any:
    """GET a peer's JSON answer; raises aiohttp.ClientError or TimeoutError when it does not answer."""
    async with request.app[PEERS].get(url, headers=_headers(request)) as resp:
        resp.raise_for_status()
        return await resp.json()


async def cluster_agents(request: web.Request) -> tuple[list[Agent], list[str]]:
    """Every peer's own agents (each with its `manager`), and the peers that did not answer (or answered
    what this version cannot read: a ValidationError is a ValueError)."""
    others = await peers(request.app[SERVICES])

    async def one(manager: dict[str, Any]) -> list[Agent] | None:
        url = str(manager["url"]).rstrip("/")
        try:
            listed = AgentList.model_validate(await get_json(request, f"{url}/api/agents?scope=local"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            request.app[PEER_FAILURES].failure("agents", url, exc)
            return None
        request.app[PEER_FAILURES].answered(url)
        return [agent.model_copy(update={"manager": str(manager["id"])}) for agent in listed.agents]

    answers = await asyncio.gather(*(one(m) for m in others))
    agents = [agent for answer in answers if answer for agent in answer]
    unreachable = sorted(str(m["id"]) for m, answer in zip(others, answers, strict=True) if answer is None)
    return agents, unreachable
