"""Shared fixtures of the integration tests: one local Ray for the whole session.

Ray takes ~4 s to start and every actor is a ~90 MB process, so the session starts Ray once
(2 CPUs, no dashboard) and each module creates the few actors it needs, in a namespace of its
own, and kills them when it is done.
"""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_session() -> str:
    """A running local Ray, started once per session; the value is a unique namespace prefix
    (for named actors: add a suffix of the module's own)."""
    import ray

    namespace = f"supreme-test-{uuid.uuid4().hex[:8]}"
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            namespace=namespace,
            ignore_reinit_error=True,
            logging_level="WARNING",
        )
    yield namespace
    if started:
        ray.shutdown()
