"""A small app that uses the NemoVideo agent API: it gets a token, opens a
session, asks for a video and reads the event stream, then checks the
session's state. Standard library only; the API's address comes from
NEMO_API_URL, as the vendor's texts have it."""
import json
import os
import urllib.request

ATTRIBUTION = {"X-Skill-Source": "example-app", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "python"}


class App:
    def __init__(self, api_url=None, client_id="example-app-client"):
        self.api = (api_url or os.environ["NEMO_API_URL"]).rstrip("/")
        self.client_id = client_id
        self.token = None

    def call(self, method, path, body=None, accept="application/json"):
        headers = {"Accept": accept, **ATTRIBUTION}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        else:
            headers["X-Client-Id"] = self.client_id
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        return urllib.request.urlopen(request, timeout=60)

    def envelope(self, method, path, body=None):
        with self.call(method, path, body) as response:
            answer = json.load(response)
        if answer.get("code") != 0:  # an HTTP 200 can carry an error code
            raise RuntimeError(f"{method} {path}: code {answer.get('code')}: {answer.get('message')}")
        return answer["data"]

    def make_video(self, prompt):
        self.token = self.envelope("POST", "/api/auth/anonymous-token")["token"]
        session = self.envelope("POST", "/api/tasks/me/with-session/nemo_agent", {"task_name": "example", "language": "en"})
        session_id = session["session_id"]
        message = {"app_name": "nemo_agent", "user_id": "me", "session_id": session_id, "new_message": {"parts": [{"text": prompt}]}}
        events = 0
        with self.call("POST", "/run_sse", message, accept="text/event-stream") as stream:
            for line in stream:
                if line.startswith(b"data:"):
                    events += 1
        state = self.envelope("GET", f"/api/state/nemo_agent/me/{session_id}/latest")
        return session_id, events, state
