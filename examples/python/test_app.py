"""Tests of the example app against nemosim, asserting on what the app sent
(the journal), not only on what it got back."""
from app import App


def test_makes_a_video_and_behaves(simulator):
    session_id, events, state = App(simulator.url).make_video("make a 30-second promo video with music")
    assert events > 0
    assert state["session_id"] == session_id

    # Every call carried the attribution headers, and the token was asked for once.
    assert all(entry["missing_attribution"] == [] for entry in simulator.journal())
    assert simulator.count(method="POST", path="/api/auth/anonymous-token") == 1

    # The message went to the session the app was given, in the body.
    [message] = simulator.journal(method="POST", path="/run_sse")
    assert message["session"] == session_id
    assert message["body"]["json"]["session_id"] == session_id
    assert message["stream"]["ended"] in ("server", "silent")
    assert message["stream"]["events"] == events

    # Every call after the token carried it (as a placeholder: the journal never shows a token).
    calls = simulator.journal(path="/api/*") + [message]
    bearer = {entry["headers"].get("authorization") for entry in calls if entry["path"] != "/api/auth/anonymous-token"}
    assert len(bearer) == 1 and bearer.pop().startswith("Bearer nmv_usr_REDACTED-")

    # The state was read once, for this session, and answered with code 0.
    [state_call] = simulator.journal(path="/api/state/*", session=session_id)
    assert state_call["code"] == 0


def test_an_error_code_in_a_200_is_not_success(simulator):
    app = App(simulator.url, client_id="example-app-errors")
    app.token = app.envelope("POST", "/api/auth/anonymous-token")["token"]
    try:
        app.envelope("GET", "/api/state/nemo_agent/me/0000000000000000000/latest")
    except RuntimeError as error:
        assert "code 1002" in str(error)
    else:
        raise AssertionError("a 1002 was taken for success")
    [entry] = simulator.journal(path="/api/state/*")
    assert entry["status"] == 200 and entry["code"] == 1002 and entry["session"] == "0000000000000000000"
