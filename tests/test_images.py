"""The images on a compose-like network (a user-defined bridge, names resolved by the engine's
DNS), as the compose backend will run them: each server is reached by its name from another
container, each answers the healthcheck its official image supports, and the tools image runs
synthmon's helpers as a non-root user. Also the other side: a user's own ``--protected-mode
yes`` still shuts redis to remote clients, so the redis check can fail.

Skipped when no engine answers, unless SYNTHMON_REQUIRE_CONTAINERS=1 (as tests/test_containers.py);
a missing image is a failure (run images/build.sh).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import docker
import pytest
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from synthmon.settings import Settings
from synthmon.waiting import NotYet, wait_until
from tests._engine import engine_with

IMAGES = {**Settings().images}
USED = ("redis", "postgres", "prometheus", "alertmanager", "pushgateway", "tools")
PROM = {"prometheus": 9090, "alertmanager": 9093, "pushgateway": 9091}  # their default ports
READY_S = 40

pytestmark = pytest.mark.selftest


@dataclass
class Net:
    """One user-defined network and the containers on it; all removed at teardown."""

    client: docker.DockerClient
    name: str
    started: list[Container] = field(default_factory=list)

    def host(self, role: str) -> str:
        return f"{self.name}-{role}"

    def serve(
        self,
        role: str,
        image: str,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Container:
        """Start a server named ``NET-role`` on the network (detached)."""
        started = self.client.containers.run(
            IMAGES[image], command, name=self.host(role), network=self.name, detach=True,
            environment=env,
        )  # fmt: skip
        self.started.append(started)
        return started

    def run(self, image: str, command: list[str], entrypoint: str | None = None) -> tuple[int, str]:
        """Run a client container on the network to its end: its exit code and output."""
        made = self.client.containers.create(
            IMAGES[image], command, entrypoint=entrypoint, network=self.name,
            name=f"{self.name}-client-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip
        try:
            made.start()
            code = int(made.wait(timeout=60)["StatusCode"])
            return code, made.logs().decode(errors="replace").strip()
        finally:
            made.remove(force=True, v=True)

    def healthy(self, role: str, command: list[str]) -> str:
        """Wait until ``command`` (a healthcheck) exits 0 inside ``role``'s container."""
        container = next(c for c in self.started if c.name == self.host(role))

        def probe() -> str | NotYet:
            container.reload()
            if container.status not in ("created", "running"):
                logs = container.logs(tail=10).decode(errors="replace")
                pytest.fail(f"{role} exited ({container.status}) before ready:\n{logs}")
            code, text = exec_in(container, command)
            return (text or "ok") if code == 0 else NotYet(f"exit {code}: {text[-300:]}")

        return wait_until(
            probe, timeout_s=READY_S, interval_s=0.3, what=f"{role}: {' '.join(command)}"
        )


def exec_in(container: Container, command: list[str]) -> tuple[int, str]:
    """``command``'s exit code and output, run inside ``container``."""
    code, out = container.exec_run(command)
    assert isinstance(out, bytes)  # not streamed
    return -1 if code is None else code, out.decode(errors="replace").strip()


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    found = engine_with({name: IMAGES[name] for name in USED}, "images")
    opened = found.client()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def net(client: docker.DockerClient) -> Iterator[Net]:
    """The network with every server started at once (they get ready while tests run)."""
    made = Net(client, f"synthmon-test-{uuid.uuid4().hex[:8]}")
    client.networks.create(made.name, driver="bridge")
    try:
        made.serve("redis", "redis")
        made.serve("redis-protected", "redis", ["--protected-mode", "yes"])
        made.serve("postgres", "postgres", env={"POSTGRES_HOST_AUTH_METHOD": "trust"})
        for name in PROM:
            made.serve(name, name)  # the image's own CMD: listens where the official one does
        made.serve(
            "sinks", "tools",
            ["python", "-m", "synthmon.sinks", "--host", "0.0.0.0",
             "--http-port", "9095", "--smtp-port", "2525"],
        )  # fmt: skip
        yield made
    finally:
        for container in made.started:
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)
        leftovers = client.containers.list(all=True, filters={"network": made.name})
        for container in leftovers:  # clients of a test that failed half-way
            container.remove(force=True, v=True)
        with contextlib.suppress(NotFound, DockerException):
            client.networks.get(made.name).remove()


def test_redis_answers_a_client_in_another_container_by_name(net: Net) -> None:
    net.healthy("redis", ["redis-cli", "ping"])  # the compose healthcheck, unchanged
    code, out = net.run("redis", ["redis-cli", "-h", net.host("redis"), "ping"])
    assert (code, out) == (0, "PONG"), f"redis-cli -h {net.host('redis')} ping: {out[:200]}"


def test_a_users_own_protected_mode_still_wins(net: Net) -> None:
    net.healthy("redis-protected", ["redis-cli", "ping"])  # loopback is still let in
    _, out = net.run("redis", ["redis-cli", "-h", net.host("redis-protected"), "ping"])
    assert out.startswith("DENIED"), f"--protected-mode yes did not shut out a remote client: {out}"


def test_postgres_accepts_a_host_connection_by_name(net: Net) -> None:
    net.healthy("postgres", ["pg_isready", "-U", "postgres"])
    argv = ["psql", "-h", net.host("postgres"), "-U", "postgres", "-tAc", "select 1"]
    code, out = net.run("postgres", argv)
    assert (code, out) == (0, "1"), f"{' '.join(argv)}: exit {code}: {out}"


@pytest.mark.parametrize("name", list(PROM))
def test_prom_images_are_ready_by_name_and_have_wget_for_their_healthcheck(
    net: Net, name: str
) -> None:
    net.healthy(name, ["wget", "-qO-", f"http://localhost:{PROM[name]}/-/ready"])
    url = f"http://{net.host(name)}:{PROM[name]}/-/ready"
    code, out = net.run("prometheus", ["-qO-", url], entrypoint="wget")  # busybox wget
    assert code == 0 and out, f"wget {url}: exit {code}: {out}"


def test_tools_image_serves_the_sinks_by_name_as_a_non_root_user(net: Net) -> None:
    url = f"http://{net.host('sinks')}:9095/-/ready"

    def ready() -> str | NotYet:
        code, out = net.run("prometheus", ["-qO-", url], entrypoint="wget")
        return out if code == 0 else NotYet(f"exit {code}: {out[-300:]}")

    assert '"ready"' in wait_until(ready, timeout_s=READY_S, interval_s=0.5, what=f"GET {url}")
    sinks = next(c for c in net.started if c.name == net.host("sinks"))
    code, uid = exec_in(sinks, ["id", "-u"])
    assert code == 0 and uid != "0", f"the tools image runs as uid {uid!r}"


def test_tools_image_runs_the_upstream(net: Net) -> None:
    code, out = net.run("tools", ["python", "-m", "synthmon.upstream", "--help"])
    assert code == 0 and "--routes" in out, f"python -m synthmon.upstream --help: {code}: {out}"
