#!/usr/bin/env python3
"""Whole-session benchmark (see scripts/bench/sessions): many concurrent
clients each run the full flow against `nemosim serve --time-scale 1000`:
token, credits, session, an upload, a message with its event stream (read
to its end, silent closes included), state polls until the draft is ready,
a render with status polls, and the download. Prints sessions per second,
requests per second, p50/p99 per endpoint, errors, and the server's
memory and CPU time. Everything runs on loopback and stops by itself."""
import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from simulator import rss_kib, start_server  # scripts/bench/simulator.py, beside this file

try:
    import aiohttp
except ImportError:  # the wrapper installs it; say so when run directly
    raise SystemExit("scripts/bench/sessions.py needs aiohttp: python3 -m pip install aiohttp (scripts/bench/sessions does)")

from simulator import ATTRIBUTION  # noqa: E402
# Rate limits and credits out of the way: the load is many clients from one address.
PROFILE = {"tokens_per_ip_per_hour": 100_000_000, "tokens_per_ip_per_window": 100_000_000, "initial_credits": 1_000_000}
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 2, 0x80, 0, 0, 1, 0xE0]) + bytes(4000)


class Failure(Exception):
    recorded = False


class Stats:
    def __init__(self):
        self.latency = {}  # endpoint -> [ms]
        self.errors = {}
        self.requests = 0
        self.sessions = 0
        self.events = 0
        self.silent = 0

    def add(self, endpoint, ms, request=True):
        self.latency.setdefault(endpoint, []).append(ms)
        if request:
            self.requests += 1

    def fail(self, endpoint, reason):
        key = f"{endpoint}: {reason}"
        self.errors[key] = self.errors.get(key, 0) + 1


async def timed(stats, endpoint, call):
    begin = time.perf_counter()
    try:
        result = await call()
    except Failure as failure:
        stats.fail(endpoint, str(failure))
        failure.recorded = True
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        stats.fail(endpoint, type(error).__name__)
        failure = Failure(str(error))
        failure.recorded = True
        raise failure
    stats.add(endpoint, (time.perf_counter() - begin) * 1000)
    return result


async def envelope(response):
    if response.status != 200:
        raise Failure(f"HTTP {response.status}")
    body = await response.json(content_type=None)
    if body.get("code") not in (0, None) or body.get("success") is False:
        raise Failure(f"code {body.get('code')}")
    return body


async def one_session(http, url, stats):
    client = str(uuid.uuid4())

    async def token():
        async with http.post(url + "/api/auth/anonymous-token", headers={"X-Client-Id": client}) as response:
            return (await envelope(response))["data"]["token"]

    bearer = await timed(stats, "POST token", token)
    auth = {"Authorization": "Bearer " + bearer, **ATTRIBUTION}

    async def credits():
        async with http.get(url + "/api/credits/balance/simple", headers=auth) as response:
            return await envelope(response)

    await timed(stats, "GET credits", credits)

    async def session():
        async with http.post(url + "/api/tasks/me/with-session/nemo_agent", headers=auth, json={"task_name": "bench", "language": "en"}) as response:
            return (await envelope(response))["data"]["session_id"]

    session_id = await timed(stats, "POST session", session)

    async def upload():
        form = aiohttp.FormData()
        form.add_field("files", PNG, filename="logo.png", content_type="image/png")
        async with http.post(f"{url}/api/upload-video/nemo_agent/me/{session_id}", headers=auth, data=form) as response:
            return await envelope(response)

    await timed(stats, "POST upload", upload)

    async def message():
        began = time.perf_counter()
        body = {"app_name": "nemo_agent", "user_id": "me", "session_id": session_id, "new_message": {"parts": [{"text": "make a promo video"}]}}
        async with http.post(url + "/run_sse", headers={**auth, "Accept": "text/event-stream"}, json=body) as response:
            if response.status != 200 or not response.headers.get("Content-Type", "").startswith("text/event-stream"):
                raise Failure(f"HTTP {response.status} {response.headers.get('Content-Type')}")
            events, last = 0, ""
            async for line in response.content:
                if line.startswith(b"data:"):
                    if events == 0:
                        stats.add("POST run_sse (first event)", (time.perf_counter() - began) * 1000, request=False)
                    events += 1
                    last = line.decode()
            stats.events += events
            if '"type":"text"' not in last.replace(" ", ""):
                stats.silent += 1  # closed before the reply: the state says how it went

    await timed(stats, "POST run_sse (whole stream)", message)

    async def state():
        async with http.get(f"{url}/api/state/nemo_agent/me/{session_id}/latest", headers=auth) as response:
            return (await envelope(response))["data"]["state"]

    draft = None
    for _ in range(2000):
        current = await timed(stats, "GET state", state)
        if (current.get("draft") or {}).get("t"):  # the draft's tracks
            draft = current["draft"]
            break
        await asyncio.sleep(0.01)
    if draft is None:
        raise Failure("no draft")
    render_id = "render_" + client

    async def submit():
        async with http.post(url + "/api/render/proxy/lambda", headers=auth, json={"id": render_id, "sessionId": session_id, "draft": draft}) as response:
            return await envelope(response)

    await timed(stats, "POST render", submit)

    async def status():
        async with http.get(f"{url}/api/render/proxy/lambda/{render_id}", headers=auth) as response:
            return (await envelope(response))["data"]

    output = None
    for _ in range(2000):
        job = await timed(stats, "GET render status", status)
        if job.get("status") == "completed":
            output = job.get("outputUrl")
            break
        if job.get("status") == "failed":
            raise Failure("render failed")
        await asyncio.sleep(0.01)
    if not output:
        raise Failure("render never completed")

    async def download():
        async with http.get(output) as response:
            if response.status != 200:
                raise Failure(f"HTTP {response.status}")
            return len(await response.read())

    await timed(stats, "GET download", download)
    stats.sessions += 1


async def drive(url, clients, seconds, stats):
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def client():
            while time.perf_counter() < deadline:
                try:
                    await one_session(http, url, stats)
                except Failure as failure:
                    if not failure.recorded:
                        stats.fail("session", str(failure))

        await asyncio.gather(*(client() for _ in range(clients)))


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--seconds", type=float, default=20, help="how long to run (default 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--perf", metavar="FILE", help="record the server with perf (perf record -F 999 -g) into FILE meanwhile")
    args = parser.parse_args()
    profile = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(PROFILE, profile)
    profile.close()
    process, url, _ = start_server("--time-scale", "1000", "--profile", profile.name)
    stats = Stats()
    try:
        base = rss_kib(process.pid)
        cpu_before = cpu_seconds(process.pid)
        recorder = None
        if args.perf:
            recorder = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(process.pid), "-o", args.perf],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        began = time.perf_counter()
        client_cpu = sum(os.times()[:2])
        asyncio.run(drive(url, args.clients, args.seconds, stats))
        client_cpu = sum(os.times()[:2]) - client_cpu
        if recorder:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=30)
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(process.pid) - cpu_before
        held = rss_kib(process.pid)
        peak = rss_kib(process.pid, "VmHWM")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        os.unlink(profile.name)
    endpoints = {name: {"count": len(values), "p50_ms": round(statistics.median(values), 2), "p99_ms": round(percentile(values, 0.99), 2)}
                 for name, values in stats.latency.items()}
    figures = {
        "machine_cores": os.cpu_count(), "clients": args.clients, "seconds": round(elapsed, 1), "time_scale": 1000,
        "sessions": stats.sessions, "sessions_per_second": round(stats.sessions / elapsed, 1),
        "requests": stats.requests, "requests_per_second": round(stats.requests / elapsed),
        "stream_events": stats.events, "silent_closes": stats.silent, "errors": stats.errors,
        "server_rss_mib": {"idle": round(base / 1024), "end": round(held / 1024), "peak": round(peak / 1024)},
        "server_cpu_share": round(cpu / elapsed / (os.cpu_count() or 1), 2),
        "client_cpu_share": round(client_cpu / elapsed / (os.cpu_count() or 1), 2), "endpoints": endpoints,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"machine: {os.cpu_count()} cores; nemosim release build, time scale 1000, {args.clients} concurrent clients for {elapsed:.0f} s")
        print(f"whole sessions: {stats.sessions:,} ({stats.sessions / elapsed:,.1f}/s), {stats.requests:,} requests ({stats.requests / elapsed:,.0f}/s), "
              f"{stats.events:,} stream events, {stats.silent:,} silent closes, errors: {sum(stats.errors.values())}")
        for reason, count in sorted(stats.errors.items()):
            print(f"  error {count:,} x {reason}")
        print(f"server: RSS {base / 1024:.0f} MiB idle, {peak / 1024:.0f} MiB peak; CPU {cpu:.1f} s over {elapsed:.0f} s "
              f"({100 * cpu / elapsed / (os.cpu_count() or 1):.0f}% of the machine); the Python clients, on the same machine: "
              f"{client_cpu:.1f} s ({100 * client_cpu / elapsed / (os.cpu_count() or 1):.0f}%)")
        print(f"  {'endpoint':<30} {'count':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, figure in endpoints.items():
            print(f"  {name:<30} {figure['count']:>8,} {figure['p50_ms']:>8.2f} {figure['p99_ms']:>8.2f}")
    return 1 if stats.errors or stats.sessions == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
