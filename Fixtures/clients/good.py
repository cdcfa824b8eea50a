#!/usr/bin/env python3
"""A client of the NemoVideo agent API that follows every rule the vendor's
texts give clients (skill 1.9), for `nemosim check-client`. Python standard
library only.

    nemosim check-client --time-scale 1000 -- python3 Fixtures/clients/good.py

The API's address comes from NEMO_API_URL. Waits are divided by the
simulator's time scale (GET /_nemosim/health; production announces none: 1).
Each Fixtures/clients/break_<rule>.py runs this client with exactly one rule
broken (BREAK below), so that a test can show each rule can fail.

Exit 0 when the flow ran to its end (a 2001 at the last message included)."""
import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

API = os.environ.get("NEMO_API_URL", "https://mega-api-prod.nemovideo.ai").rstrip("/")
ATTRIBUTION = {"X-Skill-Source": "nemosim-fixture", "X-Skill-Version": "1.9", "X-Skill-Platform": "python"}
# The rule this run breaks (set by the break_<rule>.py wrappers), or None.
BREAK = None


def log(*parts):
    print("[client]", *parts, file=sys.stderr, flush=True)


def time_scale():
    try:
        with urllib.request.urlopen(API + "/_nemosim/health", timeout=10) as response:
            return float(json.load(response).get("time_scale") or 1)
    except Exception:
        return 1.0


SCALE = time_scale()


def nap(seconds):
    """Waits `seconds` of API time."""
    time.sleep(seconds / SCALE)


def client_id():
    """A persisted client id (§1): the same one every time."""
    if os.environ.get("NEMO_CLIENT_ID"):
        return os.environ["NEMO_CLIENT_ID"]
    path = os.path.expanduser("~/.config/nemovideo/client_id")
    try:
        with open(path) as file:
            saved = file.read().strip()
            if saved:
                return saved
    except OSError:
        pass
    made = str(uuid.uuid4())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(made)
    return made


class Client:
    def __init__(self):
        self.client_id = client_id()
        self.token = None
        self.session = None

    def request(self, method, path, body=None, headers=None, timeout=60):
        """Sends a request; returns (HTTP status, the JSON answer or None, the response for streams)."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(API + path, data=data, method=method, headers=all_headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw), None
            except ValueError:
                return error.code, None, None
        if response.headers.get("Content-Type", "").startswith("text/event-stream"):
            return response.status, None, response
        with response:
            raw = response.read()
        try:
            return response.status, json.loads(raw), None
        except ValueError:
            return response.status, None, None

    def get_token(self, client_id=None):
        """§1: an anonymous token for the client id; a 429 waits 30 s and retries once (§7)."""
        for attempt in (1, 2):
            status, answer, _ = self.request("POST", "/api/auth/anonymous-token", headers={"X-Client-Id": client_id or self.client_id})
            code = (answer or {}).get("code")
            if status == 429 or code == 429:
                if attempt == 2:
                    raise SystemExit("token: rate limited twice")
                if BREAK != "wait-after-429":
                    nap(30)
                continue
            if code != 0:
                raise SystemExit(f"token: {status} {answer}")
            self.token = answer["data"]["token"]
            return

    def headers(self, attributed=True, bearer=True):
        headers = dict(ATTRIBUTION) if attributed else {}
        if bearer:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def api(self, method, path, body=None, accept="application/json", attributed=True, bearer=True, timeout=60):
        """A call with the token and the attribution headers; 1001 gets a new
        token with the same client id, then the call again (§7)."""
        headers = self.headers(attributed, bearer)
        headers["Accept"] = accept
        status, answer, stream = self.request(method, path, body, headers, timeout)
        if answer is not None and answer.get("code") == 1001:
            if BREAK == "token-refresh-1001":
                return status, answer, stream
            log("1001: a new token with the same client id")
            earlier = self.token
            self.get_token(client_id=str(uuid.uuid4()) if BREAK == "client-id" else None)
            headers = self.headers()
            headers["Accept"] = accept
            status, answer, stream = self.request(method, path, body, headers, timeout)
            if BREAK == "client-id":
                # A new client id is a new account: back to the first token
                # (still valid: the 1001 was the simulator's), so that only
                # this rule breaks.
                self.token = earlier
        return status, answer, stream

    def state(self, session, **options):
        path = f"/api/state/nemo_agent/me/{session}/latest"
        if BREAK == "no-token-in-url":
            path += "?access_token=" + urllib.parse.quote(self.token)
        status, answer, _ = self.api("GET", path, **options)
        if (answer or {}).get("code") != 0:
            raise SystemExit(f"state: {status} {answer}")
        return answer["data"]

    def new_session(self):
        """§3.0: a session (once per project, and again after a 1002)."""
        status, answer, _ = self.api("POST", "/api/tasks/me/with-session/nemo_agent", {"task_name": "fixture", "language": "en"})
        if (answer or {}).get("code") != 0:
            raise SystemExit(f"session: {status} {answer}")
        self.session = answer["data"]["session_id"]
        return self.session

    def send(self, session, text, deadline=None):
        """§3.1: a message over SSE. Returns ("refused", answer), ("dropped", texts),
        ("silent", []) or ("answered", texts)."""
        body = {"app_name": "nemo_agent", "user_id": "me", "session_id": session, "new_message": {"parts": [{"text": text}]}}
        # --max-time 900 in the vendor's curl: a stream is never cut short.
        status, answer, stream = self.api("POST", "/run_sse", body, accept="text/event-stream", timeout=900)
        if stream is None and (answer or {}).get("code") == 1002:
            # §7: the session is gone: a new one, and the message there.
            if BREAK != "new-session-1002":
                log("1002: a new session")
                session = self.new_session()
            body["session_id"] = session
            status, answer, stream = self.api("POST", "/run_sse", body, accept="text/event-stream", timeout=900)
        if stream is None:
            return "refused", answer
        texts = []
        started = time.monotonic()
        def lines():
            # read1, not line iteration: iterating a response treats a
            # chunked body cut off mid-way as its end (peek swallows
            # IncompleteRead), which would hide a dropped stream.
            pending = b""
            while True:
                chunk = stream.read1(65536)
                if not chunk:
                    return
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from complete

        try:
            with stream:
                for line in lines():
                    if deadline is not None and time.monotonic() - started > deadline / SCALE:
                        log("giving up on the stream (a short timeout)")
                        return "dropped", texts
                    if not line.startswith(b"data:"):
                        continue
                    try:
                        event = json.loads(line[5:])
                    except ValueError:
                        continue
                    content = event.get("content") if isinstance(event, dict) else None
                    if event.get("type") == "text" and content and "temporary issue" not in content:
                        texts.append(content)
        except (http.client.IncompleteRead, http.client.HTTPException, OSError) as error:
            log("stream cut:", type(error).__name__)
            return "dropped", texts
        return ("answered", texts) if texts else ("silent", [])

    def recover_dropped(self, session, before):
        """§3.6: never re-send; 30 s, a state query, then every 60 s, at most 5."""
        nap(30)
        for query in range(1, 6):
            draft = self.state(session).get("state", {}).get("draft")
            if draft != before:
                log(f"the work landed (state query {query})")
                return
            if query < 5:
                nap(60)
        log("no change after 5 state queries: offer the user a retry")


def export(client, session):
    """§3.5: render the draft (a fresh id per job; one retry with a new id
    after a failure), poll every 30 s at most 10 times, download the output
    URL, and if that fails the download endpoint with the token."""
    draft = client.state(session).get("state", {}).get("draft")
    render_id = None
    for attempt in (1, 2):
        if render_id is None or BREAK != "render-fresh-id":
            render_id = "render_" + uuid.uuid4().hex
        body = {"id": render_id, "sessionId": session, "draft": draft, "output": {"format": "mp4", "quality": "high"}}
        status, answer, _ = client.api("POST", "/api/render/proxy/lambda", body)
        if status >= 400 or (answer or {}).get("success") is False:
            raise SystemExit(f"render: {status} {answer}")
        job = {}
        interval = 5 if BREAK == "render-poll-pace" else 30
        for poll in range(10):
            nap(interval)
            _, answer, _ = client.api("GET", f"/api/render/proxy/lambda/{render_id}")
            job = (answer or {}).get("data") or answer or {}
            if job.get("status") in ("completed", "failed", "cancelled"):
                break
        log(f"render {attempt}: {job.get('status')}")
        if job.get("status") == "completed":
            break
        if BREAK == "render-retry-once" or attempt == 2:
            raise SystemExit("render failed")
    url = job.get("outputUrl") or (job.get("output") or {}).get("url")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            video = response.read()
    except urllib.error.HTTPError as error:
        log(f"output URL failed ({error.code})")
        if BREAK == "download-fallback":
            raise SystemExit("no video")
        request = urllib.request.Request(API + f"/api/render/proxy/{render_id}/download", headers=client.headers())
        with urllib.request.urlopen(request, timeout=60) as response:
            video = response.read()
    if video[4:8] != b"ftyp":
        raise SystemExit("the download is not an MP4")
    log(f"exported {len(video)} bytes")


def main():
    client = Client()
    client.get_token()
    client.new_session()
    status, answer, _ = client.api("GET", "/api/credits/balance/simple")
    log("credits:", (answer or {}).get("data"))

    messages = [
        "make a 30-second promo video with music",
        "add a title that says Hello",
        "change the title to Goodbye",
        "export the video" if BREAK == "no-export-message" else "make a new video about cats",
    ]
    previous = None
    before = None
    for index, text in enumerate(messages):
        # The draft before the message, to compare with after a drop (a
        # client that breaks the silent-close rule asks nothing after one).
        if not (BREAK == "state-after-silent-close" and previous == "silent"):
            before = client.state(client.session).get("state", {}).get("draft")
        deadline = 100 if BREAK == "stream-timeout" and index == 0 else None
        duplicate = None
        if BREAK == "no-resend-while-running" and index == 0:
            # The same message again while the first is still running (a
            # retry on a slow answer): what the rule forbids.
            def resend():
                nap(20)
                client.send(client.session, text)
            duplicate = threading.Thread(target=resend)
            duplicate.start()
        outcome, detail = client.send(client.session, text, deadline=deadline)
        if duplicate:
            duplicate.join()
        log(f"message {index + 1}: {outcome}")
        previous = outcome
        if outcome == "refused":
            code = (detail or {}).get("code")
            if code == 2001:
                log("2001: out of credits:", (detail or {}).get("message"))
                if BREAK == "no-retry-2001":
                    for _ in range(2):
                        client.send(client.session, text)
                break
            raise SystemExit(f"message refused: {detail}")
        if outcome == "dropped":
            if BREAK == "dropped-stream":
                client.state(client.session)  # at once: the rule asks for 30 s first
            client.recover_dropped(client.session, before)
        elif outcome == "silent":
            if BREAK == "state-after-silent-close":
                continue
            broken = {"attribution-headers": {"attributed": False}, "bearer-token": {"bearer": False}}.get(BREAK, {})
            draft = client.state(client.session, **broken).get("state", {}).get("draft")
            log("silent close:", "the draft changed" if draft != before else "no change seen")
    export(client, client.session)
    log("done")


if __name__ == "__main__":
    main()
