"""The autoscaling policy alone (app/autoscale/policy.py): no database, no provider."""

from app.autoscale import policy as p

POLICY = p.Policy(queue_wait=60, idle_time=300, launch_timeout=600)


def pool(nodes=(), state="ACTIVE", min_nodes=0, max_nodes=5, shape=(4.0, 8192.0, 1000.0), pool_id=1):
    return p.PoolView(pool_id, f"pool-{pool_id}", state, min_nodes, max_nodes, shape, list(nodes))


def node(scaled_id, state="RUNNING", age=1000.0, running=0, idle_for=0.0, held_by_operator=False):
    return p.NodeView(scaled_id, f"n{scaled_id}", state, age, running, idle_for, held_by_operator)


def actions(decisions):
    return [(d.pool_id, d.action, d.count or d.scaled_ids) for d in decisions]


def test_waiting_work_that_fits_launches_as_many_nodes_as_it_needs_up_to_max():
    waiting = [p.Waiting(2.0, 1024.0, 0.0, 5)]  # 10 cpus: 3 nodes of 4
    assert actions(p.decide([pool()], waiting, POLICY)) == [(1, p.LAUNCH, 3)]
    (limited,) = p.decide([pool(max_nodes=2)], waiting, POLICY)
    assert limited.count == 2
    assert "limited by max_nodes 2" in limited.reason
    assert "5 queued jobs" in limited.reason


def test_work_that_fits_no_node_of_the_pool_launches_nothing():
    assert p.decide([pool()], [p.Waiting(8.0, 1024.0, 0.0, 3)], POLICY) == []


def test_nodes_still_starting_count_and_a_second_pool_gets_only_what_the_first_does_not_cover():
    starting = pool([node(1, state="LAUNCHING", age=10.0), node(2, state="RUNNING", age=5.0)])
    assert p.decide([starting], [p.Waiting(4.0, 1024.0, 0.0, 2)], POLICY) == []
    first = pool(max_nodes=1, pool_id=1)
    second = pool(max_nodes=5, pool_id=2)
    decisions = p.decide([second, first], [p.Waiting(4.0, 1024.0, 0.0, 3)], POLICY)
    assert actions(decisions) == [(1, p.LAUNCH, 1), (2, p.LAUNCH, 2)]


def test_a_pool_below_its_minimum_launches_up_to_it_and_a_frozen_pool_does_nothing():
    (decision,) = p.decide([pool([node(1)], min_nodes=3)], [], POLICY)
    assert (decision.action, decision.count) == (p.LAUNCH, 2)
    assert decision.reason == "the pool has 1 of its min_nodes 3"
    assert p.decide([pool(state="FROZEN", min_nodes=3)], [p.Waiting(1.0, 1.0, 0.0, 9)], POLICY) == []


def test_idle_nodes_are_held_above_the_minimum_then_terminated():
    nodes = [node(1, idle_for=900.0), node(2, idle_for=400.0), node(3, idle_for=10.0), node(4, running=2)]
    (hold,) = p.decide([pool(nodes, min_nodes=3)], [], POLICY)
    assert (hold.action, hold.scaled_ids) == (p.HOLD, [1])  # the longest idle; 3 stay for min_nodes
    assert hold.reason == "idle for 300 s or more"
    (hold_both,) = p.decide([pool(nodes, min_nodes=0)], [], POLICY)
    assert hold_both.scaled_ids == [1, 2]
    held = [node(1, state="DRAINING"), node(2, state="DRAINING", running=1)]
    (end,) = p.decide([pool(held)], [], POLICY)
    assert (end.action, end.scaled_ids) == (p.TERMINATE, [1])  # never a node with work on it


def test_a_node_an_operator_held_is_never_held_or_terminated_by_the_autoscaler():
    nodes = [node(1, idle_for=900.0, held_by_operator=True), node(2, state="DRAINING", held_by_operator=True)]
    assert p.decide([pool(nodes)], [], POLICY) == []


def test_demand_takes_draining_nodes_back_before_launching_new_ones():
    nodes = [node(1, state="DRAINING"), node(2, state="DRAINING")]
    decisions = p.decide([pool(nodes)], [p.Waiting(4.0, 1024.0, 0.0, 3)], POLICY)
    assert actions(decisions) == [(1, p.UNHOLD, [1, 2]), (1, p.LAUNCH, 1)]


def test_a_draining_pool_holds_every_idle_node_whatever_its_minimum_and_launches_nothing():
    nodes = [node(1, idle_for=900.0), node(2, idle_for=900.0)]
    (hold,) = p.decide([pool(nodes, state="DRAINING", min_nodes=2)], [p.Waiting(1.0, 1.0, 0.0, 5)], POLICY)
    assert (hold.action, hold.scaled_ids, hold.reason) == (p.HOLD, [1, 2], "the pool is draining")


def test_a_node_that_never_registered_is_given_up():
    nodes = [node(1, state="LAUNCHING", age=700.0), node(2, state="LAUNCHING", age=10.0)]
    (fail,) = p.decide([pool(nodes)], [], POLICY)
    assert (fail.action, fail.scaled_ids) == (p.FAIL, [1])
    assert fail.reason == "1 node did not register within 600 s of launch"
