"""The `container` backend: testcontainers with a pgvector image, for teams that have a Docker engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from harness.db.base import ServerHandle, check_pgvector
from harness.db.embedded import bin_dir
from harness.errors import EnvironmentFailure

if TYPE_CHECKING:
    from harness.config import RunConfig

IMAGE = "pgvector/pgvector:pg{version}"


def docker_client() -> Any:
    """Return a docker client whose engine answered a ping, or raise EnvironmentFailure in seconds."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return client
    except Exception as exc:  # docker raises DockerException, requests errors or FileNotFoundError
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise EnvironmentFailure(
            f"no Docker engine answers ({reason}): use --backend embedded (default) or --dsn URL"
        ) from exc


@contextmanager
def open_server(cfg: RunConfig) -> Iterator[ServerHandle]:
    docker_client()
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(IMAGE.format(version=cfg.pg_version), username="postgres",
                                  password="postgres", dbname="postgres", driver=None)
    try:
        container.start()
    except Exception as exc:
        raise EnvironmentFailure(f"pgvector container did not start: {exc}") from exc
    try:
        host, port = container.get_container_host_ip(), container.get_exposed_port(5432)
        dsn = f"postgresql://postgres:postgres@{host}:{port}/postgres"
        check_pgvector(dsn)
        yield ServerHandle(dsn, "container", bin_dir(18))
    finally:
        container.stop()
