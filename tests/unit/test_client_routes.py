"""client_routes: the clients' routes, sendMessage (a client's message to its room) and resume (what it
missed), each metered and refused to a connection whose rows are gone."""

import json

import pytest

from hermes_notifications.envelope import MAX_MESSAGE_BYTES
from hermes_notifications.store import Connection

from .conftest import add, envelopes, route_event, sqs_event


def test_route_sends_to_the_senders_room_as_the_sender(fn, routes, mgmt, connections, lambda_context):
    add(connections, "me", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    add(connections, "elsewhere", "r2", "carol")
    response = routes.handler(
        route_event("me", {"action": "sendMessage", "data": "hi", "type": "chat"}), lambda_context
    )
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert (answer["type"], answer["status"], answer["delivered"]) == ("hermes.sent", 200, 2)
    (peer,) = envelopes(mgmt, "peer")
    # the answer names the message without an "id" of its own, so clients do not drop the real copy
    assert answer["message_id"] == peer["id"] and "id" not in answer
    assert (peer["data"], peer["user_id"], peer["room_id"], peer["type"]) == ("hi", "alice", "r1", "chat")
    assert peer["source"] == "client"  # set by Hermes: a client cannot pass as the backend
    assert "elsewhere" not in mgmt.received()
    assert len(envelopes(mgmt, "me")) == 1


def test_route_can_exclude_the_sender(fn, routes, mgmt, connections, lambda_context):
    add(connections, "me", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    routes.handler(route_event("me", {"action": "sendMessage", "data": "hi", "exclude_self": True}), lambda_context)
    assert sorted(mgmt.received()) == ["peer"]


@pytest.mark.parametrize(
    ("connection", "body", "status", "error"),
    [
        ("me", "{broken", 400, "not JSON"),
        ("me", {"action": "sendMessage"}, 400, "'data'"),
        ("me", ["a", "list"], 400, "'data'"),
        ("me", {"action": "sendMessage", "data": "x" * MAX_MESSAGE_BYTES}, 413, "limited to 131072"),
        ("me", {"action": "sendMessage", "data": 1, "type": ""}, 400, "type must be"),
        ("me", {"action": "sendMessage", "data": 1, "type": "hermes.sent"}, 400, "reserved"),
        ("me", {"action": "sendMessage", "data": 1, "type": "hermes.recovery"}, 400, "reserved"),
        ("me", {"action": "sendMessage", "data": 1, "type": "pong"}, 400, "reserved"),
        ("me", {"action": "sendMessage", "data": 1, "source": "backend"}, 200, ""),  # ignored: set by Hermes
        ("me", '{"action":"sendMessage","data":' + "[" * 1100 + "]" * 1100 + "}", 400, "nested too deeply"),
        ("me", '{"action":"sendMessage","data":"\\ud800"}', 400, "invalid Unicode"),
        ("me", '{"action":"sendMessage","data":"x","type":"\\udfff"}', 400, "invalid Unicode"),
        ("stranger", {"action": "sendMessage", "data": 1}, 403, "unknown connection"),
    ],
)
def test_route_refuses_bad_requests_with_a_reason(
    fn, routes, mgmt, connections, lambda_context, connection, body, status, error
):
    add(connections, "me", "r1", "alice")
    response = routes.handler(route_event(connection, body), lambda_context)
    assert response["statusCode"] == status
    answer = json.loads(response["body"])
    if status == 200:
        assert [json.loads(d)["source"] for _, d in mgmt.posts] == ["client"]
        return
    assert (answer["type"], answer["status"]) == ("hermes.refused", status)
    assert error in answer["error"]
    assert mgmt.posts == []


def test_route_rate_limits_each_user(fn, routes, mgmt, connections, lambda_context):
    # GIVEN a client allowed 3 messages per 60 s
    routes.ROUTE_SETTINGS = routes.RouteSettings(enabled=True, limit=3, window_seconds=60)
    add(connections, "me", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    # WHEN it sends 6 in a burst
    statuses = [
        routes.handler(route_event("me", {"action": "sendMessage", "data": i}), lambda_context)["statusCode"]
        for i in range(6)
    ]
    # THEN the first 3 are delivered and the rest refused with 429 and nothing posted for them
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert [json.loads(d)["data"] for d in mgmt.received()["peer"]] == [0, 1, 2]
    # AND another connection in the room has its own budget
    assert (
        routes.handler(route_event("peer", {"action": "sendMessage", "data": "x"}, user="bob"), lambda_context)[
            "statusCode"
        ]
        == 200
    )


def test_route_is_refused_when_client_messages_are_off(fn, routes, mgmt, connections, lambda_context):
    routes.ROUTE_SETTINGS = routes.RouteSettings(enabled=False)
    add(connections, "me", "r1", "alice")
    response = routes.handler(route_event("me", {"action": "sendMessage", "data": 1}), lambda_context)
    assert response["statusCode"] == 403 and "disabled" in json.loads(response["body"])["error"]
    assert mgmt.posts == []


def test_a_kicked_or_revoked_connection_cannot_send(fn, routes, mgmt, connections, lambda_context):
    # GIVEN a connection whose rows were removed (revoke / kick), with its socket still open
    add(connections, "me", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    connections.remove(Connection("me", "r1", "alice"))
    # WHEN it sends, with the same authorizer context as before
    response = routes.handler(route_event("me", {"action": "sendMessage", "data": 1}), lambda_context)
    # THEN it is refused and nothing reaches the room
    assert response["statusCode"] == 403
    assert mgmt.posts == []


def resume_event(connection_id, streams=None, room="r1", user="alice"):
    event = route_event(connection_id, {"action": "resume", **({"streams": streams} if streams is not None else {})})
    event["requestContext"]["routeKey"] = "resume"
    event["requestContext"]["authorizer"] = {"user_id": user, "room_id": room, "token_id": "0" * 32}
    return event


def test_resume_replays_what_the_client_missed_then_answers_per_stream(
    fn, routes, mgmt, connections, lambda_context, with_history
):
    # GIVEN five messages to r1 and one to alice while her tab was away
    add(connections, "peer", "r1", "bob")
    for i in range(5):
        fn.handler(sqs_event({"room_id": "r1", "data": i}), lambda_context)
    fn.handler(sqs_event({"target_user_id": "alice", "data": "dm"}), lambda_context)
    room = with_history.head("room#r1")
    # WHEN her new connection resumes from room position 2 and a fresh view of her user stream
    add(connections, "tab", "r1", "alice")
    response = routes.handler(
        resume_event(
            "tab", {"room#r1": {"epoch": room.epoch, "position": 2}, "user#alice": {"epoch": "", "position": 0}}
        ),
        lambda_context,
    )
    # THEN she got positions 3, 4, 5 of the room and 1 of her stream, in one replay frame, before the answer
    (frame,) = [json.loads(d) for d in mgmt.received()["tab"]]
    assert frame["type"] == "hermes.replay"
    assert [(m["stream"], m["position"]) for m in frame["messages"]] == [
        ("room#r1", 3),
        ("room#r1", 4),
        ("room#r1", 5),
        ("user#alice", 1),
    ]
    answer = json.loads(response["body"])
    assert answer["type"] == "hermes.recovery"
    assert answer["streams"]["room#r1"] == {"epoch": room.epoch, "position": 5, "complete": True, "replayed": 3}
    assert answer["streams"]["user#alice"]["replayed"] == 1
    assert answer["streams"]["user#alice#r1"] == {"epoch": "", "position": 0, "complete": True, "replayed": 0}


def test_resume_reads_only_the_connections_own_streams_and_refuses_bad_input(
    fn, routes, mgmt, connections, lambda_context, with_history
):
    fn.handler(sqs_event({"target_user_id": "bob", "data": "private"}), lambda_context)
    add(connections, "tab", "r1", "alice")
    response = routes.handler(resume_event("tab", {"user#bob": {"epoch": "", "position": 0}}), lambda_context)
    assert "user#bob" not in json.loads(response["body"])["streams"]
    assert mgmt.posts == []
    bad = [
        {"room#r1": {"epoch": 7, "position": 0}},
        {"room#r1": {"epoch": "e", "position": -1}},
        {"room#r1": {"epoch": "e", "position": True}},
        ["not", "an", "object"],
        {"room#r1": 5},  # crashed send_message (AttributeError: 5xx and the errors alarm) before
        {"room#r1": "e:5"},
        {"room#r1": ["e", 5]},
    ]
    for streams in bad:
        refused = routes.handler(resume_event("tab", streams), lambda_context)
        assert refused["statusCode"] == 400 and json.loads(refused["body"])["type"] == "hermes.refused"


def test_resume_without_history_says_so(fn, routes, mgmt, connections, lambda_context):
    routes.HISTORY = None
    response = routes.handler(resume_event("tab", {}), lambda_context)
    assert response["statusCode"] == 404 and "history is off" in json.loads(response["body"])["error"]


def test_a_connection_revoked_in_its_handshake_cannot_resume(
    fn, routes, mgmt, connections, lambda_context, with_history
):
    # GIVEN a room with history, and a socket whose rows were deleted by a revoke while it was in its
    # handshake (DeleteConnection answered 410: it completed its handshake all the same)
    for i in range(3):
        fn.handler(sqs_event({"room_id": "r1", "data": i}), lambda_context)
    epoch = with_history.head("room#r1").epoch
    add(connections, "tab", "r1", "alice")
    connections.remove(Connection("tab", "r1", "alice"), release=False)
    # WHEN it resumes from the start of the room's stream
    response = routes.handler(resume_event("tab", {"room#r1": {"epoch": epoch, "position": 0}}), lambda_context)
    # THEN it is refused, and nothing of the history reaches it
    assert response["statusCode"] == 403 and "unknown connection" in json.loads(response["body"])["error"]
    assert "tab" not in mgmt.received()


def test_resumes_are_metered_per_connection(fn, routes, mgmt, connections, lambda_context, with_history, monkeypatch):
    # GIVEN a connection allowed 3 resumes a minute, and a clock inside one window (a window that ends during
    # the test would rightly give a fresh budget)
    import hermes_notifications.store as store_module

    monkeypatch.setattr(store_module.time, "time", lambda: 1_800_000_000.0)
    routes.RESUME_SETTINGS = routes.ResumeSettings(limit=3, window_seconds=60)
    add(connections, "tab", "r1", "alice")
    add(connections, "other", "r1", "bob")
    # WHEN it resumes 5 times in a row
    statuses = [routes.handler(resume_event("tab", {}), lambda_context)["statusCode"] for _ in range(5)]
    # THEN the 4th and 5th are refused with when to try again, and another connection is not affected
    assert statuses == [200, 200, 200, 429, 429]
    refused = json.loads(routes.handler(resume_event("tab", {}), lambda_context)["body"])
    assert (refused["type"], refused["retry_after"]) == ("hermes.refused", 60)
    assert routes.handler(resume_event("other", {}, user="bob"), lambda_context)["statusCode"] == 200


def test_one_resume_replays_at_most_its_byte_budget_then_says_more(
    fn, routes, mgmt, connections, lambda_context, with_history
):
    # GIVEN 40 messages of ~10 KB in the room and 5 to alice, and a budget of 128 KB per resume
    routes.RESUME_SETTINGS = routes.ResumeSettings(max_bytes=128 * 1024)
    for i in range(40):
        fn.handler(sqs_event({"room_id": "r1", "data": {"i": i, "pad": "x" * 10_000}}), lambda_context)
    for i in range(5):
        fn.handler(sqs_event({"target_user_id": "alice", "data": i}), lambda_context)
    room, mine = with_history.head("room#r1"), with_history.head("user#alice")
    add(connections, "tab", "r1", "alice")
    positions = {"room#r1": (room.epoch, 0), "user#alice": (mine.epoch, 0)}
    replayed, answers = [], []
    # WHEN the client resumes, and again from where it stands each time the answer says "more"
    for _ in range(10):
        mgmt.posts.clear()
        streams = {s: {"epoch": e, "position": p} for s, (e, p) in positions.items()}
        answer = json.loads(routes.handler(resume_event("tab", streams), lambda_context)["body"])
        answers.append(answer)
        frames = [json.loads(d) for _, d in mgmt.posts]
        batch = [m for f in frames for m in f["messages"]]
        assert sum(len(d) for _, d in mgmt.posts) <= 128 * 1024 + 64 * len(frames)  # the budget, plus framing
        for m in batch:
            positions[m["stream"]] = (m["epoch"], m["position"])
        replayed += [(m["stream"], m["position"]) for m in batch]
        if not any(s.get("more") for s in answer["streams"].values()):
            break
    # THEN it took several resumes, each within the budget, and got everything once, in order, complete
    assert len(answers) >= 4
    assert [p for s, p in replayed if s == "room#r1"] == list(range(1, 41))
    assert [p for s, p in replayed if s == "user#alice"] == list(range(1, 6))
    assert all(s["complete"] for s in answers[-1]["streams"].values())


def test_a_route_event_claiming_another_user_is_refused(fn, routes, mgmt, connections, lambda_context, with_history):
    # GIVEN alice's private stream, and mallory's own connection
    fn.handler(sqs_event({"target_user_id": "alice", "data": "alice's private DM"}), lambda_context)
    mine = with_history.head("user#alice")
    add(connections, "mallory-tab", "r1", "mallory")
    # WHEN an event (e.g. a direct invoke) claims to be alice on mallory's connection
    resume = resume_event("mallory-tab", {"user#alice": {"epoch": mine.epoch, "position": 0}}, user="alice")
    send = route_event("mallory-tab", {"action": "sendMessage", "data": "as alice"}, user="alice")
    # THEN both routes refuse it, and nothing of alice's reaches mallory's socket
    assert routes.handler(resume, lambda_context)["statusCode"] == 403
    assert routes.handler(send, lambda_context)["statusCode"] == 403
    assert mgmt.posts == []


def test_reconnecting_brings_no_fresh_resume_budget(fn, routes, mgmt, connections, lambda_context, with_history):
    # GIVEN 3 resumes per connection and 5 per user per minute
    routes.RESUME_SETTINGS = routes.ResumeSettings(limit=3, window_seconds=60, user_limit=5)
    statuses = []
    # WHEN alice reconnects 3 times, resuming 3 times on each socket
    for i in range(3):
        add(connections, f"tab-{i}", "r1", "alice")
        statuses += [routes.handler(resume_event(f"tab-{i}", {}), lambda_context)["statusCode"] for _ in range(3)]
        connections.remove(Connection(f"tab-{i}", "r1", "alice"))
    # THEN only 5 of the 9 pass (before: 9 of 9, a fresh budget per socket), and bob keeps his own
    assert statuses.count(200) == 5 and statuses.count(429) == 4
    add(connections, "bob-tab", "r1", "bob")
    assert routes.handler(resume_event("bob-tab", {}, user="bob"), lambda_context)["statusCode"] == 200
