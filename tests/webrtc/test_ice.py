"""ICE settings: parsed and checked at start, turned into aiortc's configuration, WHEP Link headers and
the host addresses aioice offers."""

from __future__ import annotations

import aioice.ice
import pytest
from pydantic import ValidationError

from vsnative.api.whep import ice_server_links
from vsnative.settings import Settings
from vsnative.webrtc.ice import IceSettings, offer_host_addresses


def test_no_ice_server_unless_configured() -> None:
    ice = Settings().ice()
    assert ice == IceSettings()
    assert ice.configuration().iceServers == []  # never aiortc's default public STUN server
    assert ice_server_links(ice) == []


def test_servers_and_addresses_from_settings() -> None:
    settings = Settings(
        webrtc_ice_servers="stun:stun.example.net:3478, turn:turn.example.net:3478?transport=udp",
        webrtc_ice_username="user",
        webrtc_ice_credential="pass",
        webrtc_host_addresses="127.0.0.1, ::1",
    )
    ice = settings.ice()
    assert ice.host_addresses == ("127.0.0.1", "::1")
    servers = ice.configuration().iceServers
    assert servers is not None
    assert [s.urls for s in servers] == [
        "stun:stun.example.net:3478",
        "turn:turn.example.net:3478?transport=udp",
    ]
    assert ice_server_links(ice) == [
        '<stun:stun.example.net:3478>; rel="ice-server"',
        '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="user"; credential="pass"; '
        'credential-type="password"',
    ]
    assert "pass" not in repr(ice)


@pytest.mark.parametrize(
    ("field", "value"),
    [("webrtc_ice_servers", "stun.example.net:3478"), ("webrtc_host_addresses", "127.0.0.1,localhost")],
)
def test_bad_values_are_refused_at_start(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings.model_validate({field: value})


def test_only_the_configured_host_addresses_are_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)  # restored after
    offer_host_addresses(["127.0.0.1", "::1", "192.0.2.10"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1", "192.0.2.10"]
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1", "192.0.2.10"]
