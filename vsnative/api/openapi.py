"""`GET /api/openapi.json`: the HTTP API in OpenAPI 3.1 (a test keeps it in step with the routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vsnative import __version__
from vsnative.health_events import EVENT_KINDS

routes = web.RouteTableDef()

ERROR = {"$ref": "#/components/schemas/Error"}
ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
TIME_PATTERN = r"^(\d+(\.\d+)?|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?)$"
CAMERA_ID = {
    "name": "camera_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ID_PATTERN},
}
TIME_PARAMS = [
    {
        "name": n,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": TIME_PATTERN},
        "description": "ISO 8601 (UTC when no offset) or unix seconds",
    }
    for n in ("start", "end")
]


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "bad request",
        401: "missing or wrong token",
        404: "not found",
        409: "conflict",
        413: "body too large",
        415: "wrong content type",
        503: "no capacity now (see Retry-After)",
    }
    return {str(code): _json(ERROR, reasons[code]) for code in codes}


CAMERA_IN: dict[str, Any] = {
    "type": "object",
    "description": "fields not listed here are kept as they are",
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "vmsId": {"type": "string"},
        "name": {"type": "string"},
        "rtspUrl": {"type": "string", "writeOnly": True, "description": "never returned"},
        "framerType": {"type": "string"},
        "excluded": {"type": "boolean"},
    },
}
CAMERA_OUT = {
    "type": "object",
    "required": ["id", "framerType", "excluded"],
    "properties": {
        "id": {"type": "string"},
        "vmsId": {"type": "string"},
        "name": {"type": "string"},
        "framerType": {"type": "string"},
        "excluded": {"type": "boolean"},
        "agentId": {"type": "string"},
        "startupTime": {"type": "integer"},
        "lastHeartbeat": {"type": "integer"},
        "uptime": {"type": "integer"},
        "rtspHost": {"type": "string"},
        "owner": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]},
    },
}
LIVE = {
    "type": "object",
    "description": "whether a browser can show this camera live as it is (and why not), and its audio",
    "required": ["available", "reason"],
    "properties": {
        "available": {"type": "boolean"},
        "reason": {"type": ["string", "null"]},
        "audio": {
            "type": ["object", "null"],
            "description": "the camera's audio: relayed as it is (G.711, Opus) or not (AAC), and why",
            "properties": {
                "codec": {"type": "string"},
                "relayed": {"type": "boolean"},
                "reason": {"type": ["string", "null"]},
            },
        },
    },
}
AGENT = {
    "type": "object",
    "required": ["cameraId", "state", "healthy", "counters"],
    "properties": {
        "cameraId": {"type": "string"},
        "manager": {"type": "string", "description": "the manager (pod) that runs it"},
        "agentId": {"type": "string"},
        "state": {"enum": ["starting", "running", "retrying", "failed", "stopped"]},
        "healthy": {"type": "boolean"},
        "failure": {"type": ["string", "null"]},
        "lastError": {"type": "string", "description": "why the stream failed, as a person reads it"},
        "lastErrorDetail": {
            "type": "string",
            "description": "what the camera or FFmpeg said (no credentials)",
        },
        "viewers": {"type": "integer"},
        "liveView": {"anyOf": [LIVE, {"type": "null"}]},
        "health": {
            "type": "object",
            "description": "per role: recording (the camera's health), live view and detection",
            "properties": {
                "availability": {
                    "enum": ["online", "offline", None],
                    "description": "as camera_offline/online last said it (null: not yet known)",
                },
                "recording": {
                    "type": ["object", "null"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "lastClipAge": {"type": ["number", "null"]},
                        "deadline": {"type": "number"},
                    },
                },
                "live": {"type": ["string", "null"]},
                "detection": {"type": ["string", "null"]},
            },
        },
        "detection": {
            "type": ["object", "null"],
            "description": "the detector's state (running/disabled/failed + reason), pictures analysed, "
            "the model's median time, detections, and the alerts published/suppressed/dropped",
            "properties": {
                "state": {"enum": ["running", "disabled", "failed"]},
                "reason": {"type": ["string", "null"]},
                "framesAnalysed": {"type": "integer"},
                "inferenceP50Ms": {"type": ["number", "null"]},
                "detections": {"type": "integer"},
                "eventsStarted": {"type": "integer"},
                "eventsEnded": {"type": "integer"},
                "untracked": {"type": "integer", "description": "detections past maxObjects"},
                "objects": {
                    "type": "array",
                    "description": "the objects tracked now",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "label": {"type": "string"},
                            "confidence": {"type": "number"},
                            "box": {"type": "array", "items": {"type": "number"}},
                            "firstSeen": {"type": "number"},
                            "lastSeen": {"type": "number"},
                            "stationary": {"type": "boolean"},
                            "zones": {"type": "array", "items": {"type": "string"}},
                            "dwellSeconds": {"type": "object", "additionalProperties": {"type": "number"}},
                            "eventId": {"type": ["string", "null"]},
                        },
                    },
                },
                "alerts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "snapshots": {
            "type": "object",
            "description": "snapshot.jpg: keyframes decoded for it (at most one per keyframe), and those "
            "that gave no picture",
            "properties": {"decodes": {"type": "integer"}, "failures": {"type": "integer"}},
        },
        "route": {
            "type": "object",
            "description": "where the camera's packets go: sinks in the framer thread, subscriptions on the "
            "event loop (media/router.py)",
            "properties": {
                "framerThread": {"type": "array", "items": {"type": "string"}},
                "eventLoop": {"type": "array", "items": {"type": "string"}},
            },
        },
        "parts": {
            "type": "array",
            "description": "the parts recording does not need, each under its own guard",
            "items": {
                "type": "object",
                "required": ["name", "state", "failures"],
                "properties": {
                    "name": {"type": "string"},
                    "state": {"enum": ["running", "failed", "disabled", "stopped"]},
                    "reason": {"type": ["string", "null"]},
                    "failures": {"type": "integer"},
                    "lastFailure": {"type": ["string", "null"]},
                    "since": {"type": "integer"},
                },
            },
        },
        "counters": {
            "type": "object",
            "properties": {
                "lost": {
                    "type": "object",
                    "description": "packets lost, by part: framer, recorder, live, detector, fenced "
                    "(not written: the lease was not proven)",
                    "additionalProperties": {"type": "integer"},
                }
            },
            "additionalProperties": {"type": "number"},
        },
    },
}
CLIPS = {
    "type": "object",
    "required": ["cameraId", "clips", "gaps"],
    "properties": {
        "cameraId": {"type": "string"},
        "start": {"type": "string"},
        "end": {"type": "string"},
        "clips": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "duration", "size", "url"],
                "properties": {
                    "start": {"type": "string"},
                    "startUnix": {"type": "number"},
                    "duration": {"type": "number"},
                    "frames": {"type": "integer"},
                    "size": {"type": "integer"},
                    "url": {"type": "string"},
                },
            },
        },
        "gaps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start": {"type": "string"},
                    "end": {"type": "string"},
                    "duration": {"type": "number"},
                },
            },
        },
    },
}
EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
EVENT = {
    "type": "object",
    "description": "a detection (kind `detection`: label, confidence, box, snapshot) or a camera health "
    "event (any other kind: its message)",
    "required": ["id", "kind", "cameraId", "timestamp"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": sorted(EVENT_KINDS)},
        "cameraId": {"type": ["string", "null"], "description": "null: about the whole service (storage)"},
        "message": {"type": ["string", "null"]},
        "label": {"type": ["string", "null"]},
        "confidence": {"type": ["number", "null"]},
        "box": {
            "anyOf": [
                {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                {"type": "null"},
            ]
        },
        "timestamp": {"type": "number", "description": "the start"},
        "start": {"type": "number"},
        "end": {"type": ["number", "null"], "description": "null: in progress"},
        "duration": {"type": ["number", "null"]},
        "inProgress": {"type": "boolean"},
        "lastSeen": {"type": ["number", "null"]},
        "objectId": {"type": ["integer", "null"], "description": "the tracked object (per agent)"},
        "zones": {"type": "array", "items": {"type": "string"}, "description": "entered, in order"},
        "stationary": {"type": "boolean"},
        "endReason": {
            "anyOf": [{"enum": ["gone", "stationary", "stopped", "no_video", "restart"]}, {"type": "null"}]
        },
        "snapshotUrl": {"type": ["string", "null"]},
        "clipUrl": {"type": ["string", "null"]},
    },
}
SDP = {"application/sdp": {"schema": {"type": "string"}}}
VIEWER_ID = {"name": "viewer_id", "in": "path", "required": True, "schema": {"type": "string"}}
VIEWERS = {
    "type": "object",
    "required": ["maxViewers", "viewers", "live"],
    "properties": {
        "maxViewers": {"type": "integer"},
        "live": LIVE,
        "viewers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "state": {"type": "string"},
                    "since": {"type": "integer"},
                    "packetsSent": {"type": "integer"},
                    "replayed": {"type": "integer"},
                    "dropped": {"type": "integer"},
                    "audio": {
                        "type": ["object", "null"],
                        "properties": {"codec": {"type": "string"}, "packetsSent": {"type": "integer"}},
                    },
                },
            },
        },
    },
}
HTML = {"description": "the browser UI", "content": {"text/html": {"schema": {"type": "string"}}}}
MP4 = {
    "description": "MP4 video",
    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
}


def document() -> dict[str, Any]:
    camera_path = [CAMERA_ID]
    body = {"required": True, "content": {"application/json": {"schema": {**CAMERA_IN, "required": ["id"]}}}}
    # PUT and PATCH name the camera in the URL: an `id` in their body could only repeat it, so none is sent
    change_schema = {
        **CAMERA_IN,
        "properties": {k: v for k, v in CAMERA_IN["properties"].items() if k != "id"},
        "propertyNames": {"not": {"const": "id"}},
    }
    change = {"required": True, "content": {"application/json": {"schema": change_schema}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "vsnative", "version": __version__},
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "status"],
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/": {"get": {"summary": "the browser UI", "security": [], "responses": {"200": HTML}}},
            "/web/{name}": {
                "get": {
                    "summary": "a file of the browser UI (html, js, css, svg)",
                    "security": [],
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the file",
                            "content": {"*/*": {"schema": {"type": "string"}}},
                        },
                        **_errors(404),
                    },
                }
            },
            "/api/cameras/{camera_id}/whep": {
                "post": {
                    "summary": "WHEP: watch a camera live over WebRTC (H.264 relayed without re-encoding)",
                    "description": "Send the viewer's complete SDP offer (non-trickle ICE). Answers 201 with "
                    "the SDP answer and the viewer's Location, which DELETE ends.",
                    "parameters": camera_path,
                    "requestBody": {"required": True, "content": SDP},
                    "responses": {
                        "201": {
                            "description": "the SDP answer",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": SDP,
                        },
                        "307": {
                            "description": "another pod runs the camera: send the offer to Location",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        **_errors(400, 401, 404, 409, 413, 415, 503),
                    },
                }
            },
            "/api/cameras/{camera_id}/whep/{viewer_id}": {
                "delete": {
                    "summary": "WHEP: end a viewer",
                    "parameters": [CAMERA_ID, VIEWER_ID],
                    "responses": {
                        "200": _json({"type": "object", "properties": {"deleted": {"type": "string"}}}),
                        **_errors(401, 404, 409),
                    },
                }
            },
            "/api/cameras/{camera_id}/viewers": {
                "get": {
                    "summary": "the camera's live viewers on this process",
                    "parameters": camera_path,
                    "responses": {"200": _json(VIEWERS), **_errors(401, 404, 409)},
                }
            },
            "/api/health": {
                "get": {
                    "summary": "liveness",
                    "security": [],
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "this document", "responses": {"200": _json({"type": "object"})}}
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text exposition",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401),
                    },
                }
            },
            "/api/agents": {
                "get": {
                    "summary": "agents of every live manager (each with its `manager`); scope=local: this "
                    "process's only",
                    "parameters": [
                        {
                            "name": "scope",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": ["cluster", "local"]},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "maxAgents": {"type": "integer"},
                                    "manager": {"type": "string"},
                                    "agents": {"type": "array", "items": AGENT},
                                    "unreachable": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "description": "managers that did not answer",
                                    },
                                },
                            }
                        ),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/api/agents/{camera_id}": {
                "get": {
                    "summary": "the camera's agent, from the manager that runs it",
                    "parameters": camera_path,
                    "responses": {"200": _json(AGENT), **_errors(401, 404, 503)},
                }
            },
            "/api/cluster": {
                "get": {
                    "summary": "managers, capacity, orphan backlog",
                    "responses": {"200": _json({"type": "object"}), **_errors(401, 503)},
                }
            },
            "/api/cluster/scale": {
                "get": {
                    "summary": "manager pods the cameras need: ceil(cameras to own / slots per pod), "
                    "what KEDA scales the manager Deployment on",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": [
                                    "camerasToOwn",
                                    "slotsPerPod",
                                    "orphanBacklog",
                                    "managersNeeded",
                                ],
                                "properties": {
                                    "camerasToOwn": {"type": "integer"},
                                    "slotsPerPod": {"type": "integer"},
                                    "orphanBacklog": {"type": "integer"},
                                    "managersNeeded": {"type": "integer", "minimum": 1},
                                },
                            }
                        ),
                        **_errors(401, 503),
                    },
                }
            },
            "/api/cameras": {
                "get": {
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"cameras": {"type": "array", "items": CAMERA_OUT}},
                            }
                        ),
                        **_errors(401),
                    }
                },
                "post": {
                    "requestBody": body,
                    "responses": {"201": _json(CAMERA_OUT, "created"), **_errors(400, 401, 409)},
                },
            },
            "/api/cameras/{camera_id}": {
                "get": {
                    "parameters": camera_path,
                    "responses": {"200": _json(CAMERA_OUT), **_errors(401, 404)},
                },
                "put": {
                    "parameters": camera_path,
                    "requestBody": change,
                    "responses": {
                        "200": _json(CAMERA_OUT),
                        "201": _json(CAMERA_OUT, "created"),
                        **_errors(400, 401, 409),
                    },
                },
                "patch": {
                    "parameters": camera_path,
                    "requestBody": change,
                    "responses": {"200": _json(CAMERA_OUT), **_errors(400, 401, 404, 409)},
                },
                "delete": {
                    "parameters": camera_path,
                    "responses": {"204": {"description": "deleted"}, **_errors(401, 404)},
                },
            },
            "/api/cameras/{camera_id}/clips": {
                "get": {
                    "parameters": [*camera_path, *TIME_PARAMS],
                    "responses": {"200": _json(CLIPS), **_errors(400, 401, 404)},
                }
            },
            "/api/cameras/{camera_id}/clips/{day}/{name}": {
                "get": {
                    "summary": "one clip (HTTP Range supported)",
                    "parameters": [
                        *camera_path,
                        {"name": "day", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {"200": MP4, "206": MP4, **_errors(401, 404)},
                }
            },
            "/api/events": {
                "get": {
                    "summary": "events, newest first (by start; `start`/`end` select by start)",
                    "parameters": [
                        {"name": "camera", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "label", "in": "query", "required": False, "schema": {"type": "string"}},
                        {
                            "name": "zone",
                            "in": "query",
                            "required": False,
                            "description": "detections that entered this zone",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "inProgress",
                            "in": "query",
                            "required": False,
                            "description": "true: events going on; false: those over",
                            "schema": {"type": "boolean"},
                        },
                        {
                            "name": "kind",
                            "in": "query",
                            "required": False,
                            "description": "kinds to list, comma-separated (`health`: every health kind)",
                            "schema": {"type": "string"},
                        },
                        *TIME_PARAMS,
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"events": {"type": "array", "items": EVENT}}}
                        ),
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/api/events/{event_id}": {
                "get": {"parameters": [EVENT_ID], "responses": {"200": _json(EVENT), **_errors(401, 404)}}
            },
            "/api/events/{event_id}/snapshot.jpg": {
                "get": {
                    "parameters": [EVENT_ID],
                    "responses": {
                        "200": {
                            "description": "JPEG",
                            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        **_errors(401, 404),
                    },
                }
            },
            "/api/events/{event_id}/clip.mp4": {
                "get": {
                    "summary": "the recorded clips around the event, joined (no re-encoding); 202 with "
                    "Retry-After while they are still being written",
                    "parameters": [EVENT_ID],
                    "responses": {
                        "200": MP4,
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"enum": ["recording", "in progress"]},
                                    "reason": {"type": "string"},
                                    "coveredUntil": {"type": ["number", "null"]},
                                    "needed": {"type": ["number", "null"]},
                                },
                            },
                            "not yet: the event goes on, or the clips covering it are being written "
                            "(see Retry-After)",
                        ),
                        **_errors(401, 404),
                    },
                }
            },
            "/api/cameras/{camera_id}/export.mp4": {
                "get": {
                    "summary": "the clips covering a range joined into one MP4 (no re-encoding)",
                    "parameters": [*camera_path, *TIME_PARAMS],
                    "responses": {"200": MP4, **_errors(400, 401, 404)},
                }
            },
            "/api/cameras/{camera_id}/vod.m3u8": {
                "get": {
                    "summary": "an HLS playlist (fMP4) of the clips of a range, any length, served from the "
                    "clips as they are by byte range; EVENT (no ENDLIST) when the range reaches now",
                    "parameters": [*camera_path, *TIME_PARAMS],
                    "responses": {
                        "200": {
                            "description": "HLS playlist",
                            "content": {"application/vnd.apple.mpegurl": {"schema": {"type": "string"}}},
                        },
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/api/cameras/{camera_id}/snapshot.jpg": {
                "get": {
                    "summary": "the camera's latest picture (its latest keyframe, decoded once), or a "
                    "placeholder picture with its state (X-Vsn-Snapshot says which); 307 to the pod that "
                    "runs it",
                    "parameters": camera_path,
                    "responses": {
                        "200": {
                            "description": "JPEG",
                            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "307": {"description": "another pod runs the camera"},
                        **_errors(401, 404),
                    },
                }
            },
        },
    }


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
