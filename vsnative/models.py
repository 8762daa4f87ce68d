"""Camera records: the `settings/cameras.json` format inherited from vs-go, parsed and written as is."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from vsnative.errors import ConfigError
from vsnative.log import redact

ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
CAMERA_ID = re.compile(ID)


class CameraSettings(BaseModel):
    """The fields of a camera that its user writes (the API's request body), as in vs-go's cameras.json.
    Unknown fields are kept and written back."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    id: Annotated[
        str,
        Field(description="unique id; also the recordings folder name", json_schema_extra={"pattern": ID}),
    ]
    vmsId: str = ""
    name: str = ""
    rtspUrl: Annotated[SecretStr, Field(description="write-only: never returned")] = SecretStr("")
    framerType: str = "rtsp"
    excluded: StrictBool = False

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not CAMERA_ID.match(value):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with a symbol"
            )
        return value


class Camera(CameraSettings):
    """One camera, field for field as in vs-go's cameras.json: the user's fields and the agent's
    bookkeeping."""

    agentId: str = ""
    startupTime: int = 0
    lastHeartbeat: int = 0
    uptime: int = 0

    @property
    def url(self) -> str:
        """The RTSP URL with credentials: only for the framer that connects. Never log or return it."""
        return self.rtspUrl.get_secret_value()

    @property
    def safe_url(self) -> str:
        """The RTSP URL with its password replaced by ***."""
        return redact(self.url)

    def to_record(self) -> dict[str, Any]:
        """The record as it is stored in cameras.json (secret included), in the original field order."""
        record = self.model_dump(by_alias=True)
        record["rtspUrl"] = self.url
        return record

    def public(self) -> dict[str, Any]:
        """The record as the API and UI may show it: no URL credentials, no URL at all."""
        record = self.model_dump(by_alias=True)
        del record["rtspUrl"]
        parts = urlsplit(self.url)
        record["rtspHost"] = parts.hostname or ""
        return record


#: Fields the service itself writes (agent bookkeeping); everything else belongs to the user.
RUNTIME_FIELDS = tuple(name for name in Camera.model_fields if name not in CameraSettings.model_fields)

_CAMERA_LIST = TypeAdapter(list[Camera])


def _location(loc: tuple[int | str, ...], records: Any) -> str:
    """Name a field as `[index] (id=...).field` so the user can find it in the file."""
    if not loc:
        return "(file)"
    head, *rest = loc
    if isinstance(head, int):
        label = f"[{head}]"
        if isinstance(records, list) and head < len(records) and isinstance(records[head], dict):
            cam_id = records[head].get("id")
            if isinstance(cam_id, str):
                label += f" (id={cam_id})"
        return label + "".join(f".{part}" for part in rest)
    return ".".join(str(part) for part in loc)


def parse_cameras(data: bytes, source: str, known_framers: frozenset[str] | None = None) -> list[Camera]:
    """Parse and validate cameras.json content; raise ConfigError listing every bad field."""
    try:
        records = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, [(f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}")]
        ) from exc
    try:
        cameras = _CAMERA_LIST.validate_python(records)
    except ValidationError as exc:
        raise ConfigError(
            source, [(_location(err["loc"], records), redact(err["msg"])) for err in exc.errors()]
        ) from exc
    problems = []
    seen: dict[str, int] = {}
    for index, camera in enumerate(cameras):
        if camera.id in seen:
            problems.append((f"[{index}] (id={camera.id}).id", f"duplicate of camera [{seen[camera.id]}]"))
        seen.setdefault(camera.id, index)
        if known_framers is not None and camera.framerType not in known_framers:
            problems.append(
                (
                    f"[{index}] (id={camera.id}).framerType",
                    f"unknown framer {camera.framerType!r}; known: {', '.join(sorted(known_framers))}",
                )
            )
    if problems:
        raise ConfigError(source, problems)
    return cameras


_GO_ESCAPES = {"&": "\\u0026", "<": "\\u003c", ">": "\\u003e", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[&<>\u2028\u2029]")


def dump_cameras(cameras: list[Camera]) -> bytes:
    """Serialise like vs-go (Go's json.MarshalIndent, 2 spaces, HTML-safe escapes) plus a final newline."""
    text = json.dumps([camera.to_record() for camera in cameras], indent=2, ensure_ascii=False)
    return (_GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text) + "\n").encode()
