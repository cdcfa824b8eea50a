#!/usr/bin/env python3
"""A soak of the simulator: for --minutes, a mixed load (new accounts, sessions,
messages whose streams the client drops, uploads, renders with polls and
downloads, idle sockets, slow senders) against `nemosim serve --time-scale 1000`,
sampling the server's memory and open descriptors every --every seconds. Then the
clients leave and the descriptors are counted again. Memory should flatten after
the first minute (eviction and limits), and descriptors return to where they began.
The default time scale, 10,000, makes the 7-day lifetimes of tokens and rate
windows and the 7-day retention of renders 60 s of real time, so that eviction
reaches its steady state within the first minute."""
import argparse, json, os, random, re, signal, socket, subprocess, sys, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simulator import ATTRIBUTION, BINARY, ROOT, rss_kib  # noqa: E402 (the simulator benchmark's helpers)

DROP_RATIO = 0.5


def rss_mib(pid):
    return rss_kib(pid) / 1024


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def call(url, method="GET", headers=None, body=None, timeout=30):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


class Worker(threading.Thread):
    """One client running whole sessions over and over."""

    def __init__(self, url, index, stop, counts):
        super().__init__(daemon=True)
        self.url, self.index, self.stop, self.counts = url, index, stop, counts
        self.host, self.port = re.match(r"http://([^:]+):(\d+)", url).groups()

    def count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def run(self):
        rounds = 0
        while not self.stop.is_set():
            rounds += 1
            try:
                self.session(rounds)
            except Exception as error:  # the server keeps serving; note and go on
                self.count("errors")
                self.counts.setdefault("last_error", str(error)[:120])
                time.sleep(0.1)

    def session(self, rounds):
        # A pool of client ids per worker, as returning users: accounts stay
        # bounded (new client ids are limited per IP; the soak lifts that only
        # for its own pool).
        client = f"soak-{self.index}-{rounds % 16}"
        token = json.loads(call(self.url + "/api/auth/anonymous-token", "POST", {"X-Client-Id": client}, b""))["data"]["token"]
        auth = {"Authorization": "Bearer " + token, **ATTRIBUTION}
        json_auth = {**auth, "Content-Type": "application/json"}
        session = json.loads(call(self.url + "/api/tasks/me/with-session/nemo_agent", "POST", json_auth, b'{"task_name":"soak","language":"en"}'))["data"]["session_id"]
        self.count("sessions")
        boundary = "soakboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"clip-{rounds}.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode() \
            + os.urandom(20000) + f"\r\n--{boundary}--\r\n".encode()
        call(f"{self.url}/api/upload-video/nemo_agent/me/{session}", "POST", {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
        self.count("uploads")
        # A message; half the time the client drops the stream after its first bytes.
        message = json.dumps({"app_name": "nemo_agent", "user_id": "me", "session_id": session,
                              "new_message": {"parts": [{"text": "make a 15-second video"}]}}).encode()
        with socket.create_connection((self.host, int(self.port)), timeout=30) as sock:
            head = f"POST /run_sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {len(message)}\r\n" \
                + "".join(f"{k}: {v}\r\n" for k, v in auth.items()) + "Connection: close\r\n\r\n"
            sock.sendall(head.encode() + message)
            drop = random.random() < DROP_RATIO
            while True:
                chunk = sock.recv(65536)
                if not chunk or drop:
                    break
        self.count("messages_dropped" if drop else "messages")
        time.sleep(0.05)
        for _ in range(100):  # until the generation (100-300 s simulated) has made the draft
            state = json.loads(call(f"{self.url}/api/state/nemo_agent/me/{session}/latest", headers=auth))["data"]["state"]
            if any(track.get("sg") for track in (state.get("draft") or {}).get("t", [])):
                break
            time.sleep(0.05)
        state = json.loads(call(f"{self.url}/api/state/nemo_agent/me/{session}/latest", headers=auth))["data"]["state"]
        draft = state.get("draft")
        if draft and any(track.get("sg") for track in draft.get("t", [])):
            render_id = f"soak-{self.index}-{rounds}"
            call(self.url + "/api/render/proxy/lambda", "POST", json_auth, json.dumps({"id": render_id, "sessionId": session, "draft": draft}).encode())
            for _ in range(20):
                status = json.loads(call(f"{self.url}/api/render/proxy/lambda/{render_id}", headers=auth))
                data = status.get("data") or {}
                if data.get("status") in ("completed", "failed"):
                    break
                time.sleep(0.05)
            if data.get("status") == "completed":
                call(f"{self.url}/api/render/proxy/{render_id}/download", headers=auth)
                self.count("renders")


def hostile(url, stop, counts):
    """Idle sockets and slow senders, opened and left over and over."""
    host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
    while not stop.is_set():
        held = []
        for _ in range(50):
            try:
                sock = socket.create_connection((host, int(port)), timeout=5)
                if random.random() < 0.5:
                    sock.sendall(b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
            except OSError:
                counts["hostile_refused"] = counts.get("hostile_refused", 0) + 1
        for _ in range(10):
            if stop.is_set():
                break
            for sock in held:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.5)
        for sock in held:
            sock.close()
        counts["hostile_rounds"] = counts.get("hostile_rounds", 0) + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--time-scale", type=float, default=10000, help="the server's time scale")
    parser.add_argument("--drop-ratio", type=float, default=0.5, help="share of message streams the client drops after the first bytes")
    args = parser.parse_args()
    global DROP_RATIO
    DROP_RATIO = args.drop_ratio
    profile = os.path.join(ROOT, ".build", "soak-profile.json")
    with open(profile, "w") as file:
        # Many new accounts from one address (loopback): the per-IP limits lifted.
        # Sessions idle for 10 h (3.6 s at 10,000x) so that none expires between a client's steps.
        json.dump({"tokens_per_ip_per_hour": 1000000, "tokens_per_ip_per_window": 1000000, "tokens_per_client": 1000000,
                   "render_duration_seconds": [30, 60], "initial_credits": 1000000000, "session_idle_ttl_seconds": 36000}, file)
    process = subprocess.Popen([BINARY, "serve", "--port", "0", "--time-scale", str(args.time_scale), "--profile", profile,
                                "--idle-timeout", "5", "--request-timeout", "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.match(r"nemosim listening on (\S+)", process.stdout.readline()).group(1)
    pid = process.pid
    time.sleep(0.5)
    base_fds, base_rss = descriptors(pid), rss_mib(pid)
    print(f"machine: {os.cpu_count()} cores; server {url} pid {pid} at time scale {args.time_scale:g}; {args.workers} workers and a hostile client for {args.minutes:g} min")
    print(f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>5}  counts")
    print(f"{0:>6} {base_rss:>8.1f} {base_fds:>5}")
    stop = threading.Event()
    counts = {}
    workers = [Worker(url, index, stop, counts) for index in range(args.workers)]
    for worker in workers:
        worker.start()
    threading.Thread(target=hostile, args=(url, stop, counts), daemon=True).start()
    samples = []
    begin = time.time()
    end = begin + args.minutes * 60
    while time.time() < end:
        time.sleep(min(args.every, max(0, end - time.time())))
        elapsed = time.time() - begin
        sample = (elapsed, rss_mib(pid), descriptors(pid))
        samples.append(sample)
        shown = {k: v for k, v in counts.items() if k != "last_error"}
        print(f"{elapsed:>6.0f} {sample[1]:>8.1f} {sample[2]:>5}  {shown}", flush=True)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    time.sleep(12)  # idle connections close after the 5 s idle timeout
    after_fds = descriptors(pid)
    tables = json.loads(call(url + "/_nemosim/tables"))
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    minute = min(samples, key=lambda s: abs(s[0] - 60))
    last = samples[-1]
    after_minute = [s[1] for s in samples if s[0] >= minute[0]]
    drift = (max(after_minute) - minute[1]) / minute[1] * 100
    print(f"memory: {minute[1]:.1f} MiB at {minute[0]:.0f} s, {last[1]:.1f} MiB at the end, at most {max(after_minute):.1f} MiB after the first minute "
          f"({drift:+.1f}% of the one-minute value; aim: within 10%)")
    print(f"descriptors: {base_fds} at start, {max(s[2] for s in samples)} at most under load, {after_fds} after the clients left")
    print(f"tables at the end: {tables}")
    if "last_error" in counts:
        print(f"an error seen: {counts['last_error']}")
    ok = drift <= 10 and after_fds <= base_fds + 2
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
