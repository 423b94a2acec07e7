"""Shared fixtures: one real memcached per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import MemcachedProcess


@pytest.fixture(scope="session")
def memcached() -> Iterator[MemcachedProcess]:
    server = MemcachedProcess()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_memcached() -> Iterator[MemcachedProcess]:
    """A memcached this test may stop and restart without disturbing others."""
    server = MemcachedProcess()
    server.start()
    yield server
    server.stop()
