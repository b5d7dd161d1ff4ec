"""SchedulerCore driven by a fake driver over a real SQLite database, without a master."""

from app.settings import settings
from workers.scheduler import SchedulerCore


class FakeDriver:
    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        return lambda *args, **kw: self.calls.append((name, args))


def offer(offer_id="o-1", agent_id="agent-1", cpus=1.0, mem=64.0):
    return {"id": {"value": offer_id}, "agent_id": {"value": agent_id}, "hostname": "host-1", "url": {"address": {"port": 5051}},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
            "attributes": []}


def test_offers_are_declined_when_nothing_is_queued(session, monkeypatch):
    monkeypatch.setattr(settings, "SCHEDULER_OFFER_HOLD", 0.0, raising=False)
    driver = FakeDriver()
    core = SchedulerCore(driver_factory=lambda: driver)
    core.driver = driver
    core.on_registered("fw-1", {}, reregistered=False)
    core.on_offers([offer()])
    core.step()
    names = [name for name, _ in driver.calls]
    assert "declineOffer" in names
    assert "launchTasks" not in names
    declined = next(args for name, args in driver.calls if name == "declineOffer")
    assert declined[0] == [{"value": "o-1"}]
