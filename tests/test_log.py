"""Logs are JSON lines and never carry an RTSP password."""

from __future__ import annotations

import json
import logging

from vsnative.log import JsonFormatter, redact, without_userinfo


def test_redact_hides_passwords_only() -> None:
    assert (
        redact("open rtsp://admin:s3cr3t@10.1.2.3/live failed")
        == "open rtsp://admin:***@10.1.2.3/live failed"
    )
    assert redact("rtsp://10.1.2.3/live") == "rtsp://10.1.2.3/live"
    assert redact("'rtsp://u:p@h/a' and rtsps://x:y@h2") == "'rtsp://u:***@h/a' and rtsps://x:***@h2"


def test_api_text_shows_no_part_of_a_credential() -> None:
    text = "open 'rtsp://admin:s3cr3t@10.1.2.3/live' failed; rtsp://viewer@h2/x; rtsp://h3/y"
    assert without_userinfo(text) == "open 'rtsp://***@10.1.2.3/live' failed; rtsp://***@h2/x; rtsp://h3/y"
    assert without_userinfo("user@example.com wrote") == "user@example.com wrote"  # not a URL


def test_json_formatter_redacts_message_args_and_extras() -> None:
    record = logging.LogRecord(
        "t", logging.WARNING, __file__, 1, "cannot open %s", ("rtsp://a:pw@h/x",), None
    )
    record.url = "rtsp://a:pw@h/y"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "cannot open rtsp://a:***@h/x"
    assert line["url"] == "rtsp://a:***@h/y"
    assert line["level"] == "WARNING"
    assert "pw" not in json.dumps(line)
