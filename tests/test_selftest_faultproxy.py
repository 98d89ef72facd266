"""Self-tests of the fault proxy's measures: each must fail, saying so, when its toxic is absent
or wrong, or a broken proxy would pass tests/test_faultproxy.py."""

# ruff: noqa: F811 (the fixtures come from tests/test_faultproxy.py, by name)

from __future__ import annotations

import socket

import pytest

from synthmon.faultproxy import ToxiproxyClient
from tests.test_faultproxy import (  # noqa: F401
    api,
    assert_added_latency,
    assert_rate,
    assert_reset,
    client,
    conn,
    echo,
    median_ms,
    port,
)


def test_latency_check_fails_without_the_toxic(conn: socket.socket) -> None:
    with pytest.raises(AssertionError, match=r"add 100 ms \(±20\).*is the latency toxic"):
        assert_added_latency(conn, median_ms(conn), 100)


def test_latency_check_fails_on_the_wrong_latency(
    client: ToxiproxyClient, conn: socket.socket
) -> None:
    baseline = median_ms(conn)
    with (
        client.toxic("echo", "latency", latency=200),
        pytest.raises(AssertionError, match=r"it added 2\d\d\.\d ms"),
    ):
        assert_added_latency(conn, baseline, 100)


def test_rate_check_fails_without_the_toxic(port: int) -> None:
    with pytest.raises(AssertionError, match=r"at 100 KB/s to take 1\.50 s.*bandwidth toxic"):
        assert_rate(port, 100)


def test_reset_check_fails_on_data_and_on_a_plain_close(
    client: ToxiproxyClient, conn: socket.socket
) -> None:
    with pytest.raises(AssertionError, match="still carries data"):
        assert_reset(conn)
    with (
        client.toxic("echo", "timeout", timeout=100),
        pytest.raises(AssertionError, match="expected a connection reset, got ConnectionError"),
    ):
        assert_reset(conn)
