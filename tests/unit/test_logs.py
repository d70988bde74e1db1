"""Structured logs: one JSON object a line, correlation ids, and no secret ever written."""

import asyncio
import io
import json
import logging

import pytest

from supreme.logs import JsonFormatter, correlate, redact, register_secret, tag_task

PLANTED = "sk-live-7f3a9c1e5b2d4a68"


@pytest.fixture
def capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("supreme.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_each_event_is_one_json_line_with_time_level_logger_and_extras(capture):
    logger, lines = capture
    logger.info("order %s: %s", "abc", "FILLED", extra={"venue": "paper", "qty": 2.5})
    logger.warning("second\nline")  # a newline in a message must not split the event
    first, second = lines()
    assert first["message"] == "order abc: FILLED" and first["level"] == "INFO"
    assert first["logger"] == "supreme.test.logs" and first["time"].endswith("+00:00")
    assert first["venue"] == "paper" and first["qty"] == 2.5
    assert second["message"] == "second\nline"


def test_correlation_ids_follow_the_task_and_the_block(capture):
    logger, lines = capture

    async def handler(sub_id):
        tag_task(sub_id)
        await asyncio.sleep(0)
        logger.info("signal sent")

    async def main():
        await asyncio.gather(handler("sub-1"), handler("sub-2"))
        with correlate("client-order-9"):
            logger.info("submitted")
        logger.info("outside")
        logger.info("explicit", extra={"correlation_id": "ord-7"})

    asyncio.run(main())
    got = [(line["message"], line.get("correlation_id")) for line in lines()]
    assert sorted(got[:2]) == [("signal sent", "sub-1"), ("signal sent", "sub-2")]
    assert got[2:] == [("submitted", "client-order-9"), ("outside", None), ("explicit", "ord-7")]


def test_a_planted_secret_never_reaches_a_line(capture):
    logger, lines = capture
    register_secret(PLANTED)
    logger.error("venue said: invalid key %s", PLANTED, extra={"config": {"apiKey": PLANTED}})
    try:
        raise RuntimeError(f"auth failed for {PLANTED}")
    except RuntimeError:
        logger.exception("submit failed")
    logger.info("headers: Authorization: Bearer abcdefghijklmnop123 and token=hunter2hunter2")
    text = json.dumps(lines())
    assert PLANTED not in text and "abcdefghijklmnop123" not in text
    assert "hunter2hunter2" not in text and text.count("***") >= 4


def test_redact_leaves_ordinary_text_alone():
    assert redact("breaker drawdown tripped at 0.21") == "breaker drawdown tripped at 0.21"
    assert redact("api_key=ABCDEFGH1234") == "api_key=***"
