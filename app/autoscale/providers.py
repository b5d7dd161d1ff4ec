"""Node providers: what launches and terminates the machines of an autoscaled resource pool.

A provider is a subclass of :class:`NodeProvider` registered in :data:`PROVIDERS` under the name a
pool's ``provider`` field uses. ``launch`` starts one node that will run a Mesos agent with the given
hostname, resources and attributes (so that it registers with the master and lands in the pool) and
returns the provider's id for it; ``terminate`` stops it and must succeed when it is already gone.
A cloud provider (EC2, OpenStack, ...) goes here: its ``launch`` boots an image whose agent joins
MESOS_MASTER, its ``config`` says what it would launch (shown by GET /cluster/config/).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from app.settings import settings


class ProviderError(Exception):
    """The provider could not do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    hostname: str
    cpus: float
    mem: float
    disk: float
    attributes: dict[str, str]


class NodeProvider:
    name = ""

    def launch(self, spec: NodeSpec) -> str:
        raise NotImplementedError

    def terminate(self, provider_id: str) -> None:
        raise NotImplementedError

    def config(self) -> dict:
        return {}


class LocalClusterProvider(NodeProvider):
    """Adds and removes agents of the bundled local cluster through its agent routes (served when
    LOCAL_CLUSTER_TEST_ROUTES is on), as a cloud provider would boot and stop machines."""

    name = "local"
    timeout = 10.0

    def _base(self) -> str:
        master = settings.MESOS_MASTER
        if master.startswith("zk://"):
            raise ProviderError(f"the local provider needs the local cluster's address, not {master}")
        return master if master.startswith("http") else f"http://{master}"

    def _post(self, path: str, body: dict | None = None) -> tuple[int, dict | str]:
        request = urllib.request.Request(
            self._base() + path,
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if settings.MESOS_PRINCIPAL and settings.MESOS_SECRET:
            token = base64.b64encode(f"{settings.MESOS_PRINCIPAL}:{settings.MESOS_SECRET}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace").strip()
        except (OSError, ValueError) as exc:
            raise ProviderError(f"local cluster at {self._base()} did not answer: {exc}") from exc

    def launch(self, spec: NodeSpec) -> str:
        body = {
            "hostname": spec.hostname,
            "cpus": spec.cpus,
            "mem": spec.mem,
            "disk": spec.disk,
            "attributes": spec.attributes,
        }
        status, answer = self._post("/local/agents/add", body)
        if status == 404:
            raise ProviderError("the local cluster does not serve its agent routes: set LOCAL_CLUSTER_TEST_ROUTES=true")
        if status != 200 or not isinstance(answer, dict):
            raise ProviderError(f"the local cluster refused to add {spec.hostname}: {status} {answer}")
        return str(answer["agent_id"])

    def terminate(self, provider_id: str) -> None:
        status, answer = self._post(f"/local/agents/{provider_id}/remove")
        if status == 404 and "unknown agent" in str(answer):
            return  # already gone
        if status != 200:
            raise ProviderError(f"the local cluster refused to remove agent {provider_id}: {status} {answer}")

    def config(self) -> dict:
        return {"type": "local", "master": settings.MESOS_MASTER}


PROVIDERS: dict[str, type[NodeProvider]] = {LocalClusterProvider.name: LocalClusterProvider}


def provider(name: str) -> NodeProvider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ProviderError(f"no node provider named '{name}' (known: {', '.join(sorted(PROVIDERS))})") from None
