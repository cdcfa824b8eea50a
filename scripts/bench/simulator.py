#!/usr/bin/env python3
"""Simulator benchmarks (see scripts/bench/simulator): requests/s on the credits
endpoint with wrk, concurrent event streams held with 1 s heartbeats and the
server's memory, idle keep-alive connections' memory, start-up time to the
ready line, memory growth during a 500 MB streamed upload, and more; the
Python aiohttp mock (python_mock.py) measured beside nemosim in the same run.
Everything runs on loopback and stops by itself."""
import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "release", "nemosim")


def start_process(command, ready_pattern, name):
    """Starts a server that prints its URL on its first line; returns (process, url, seconds to that line)."""
    begin = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    ready = time.perf_counter() - begin
    match = re.match(ready_pattern, line)
    if not match:
        process.kill()
        raise SystemExit(f"{name} did not start: {line!r} {process.stderr.read()}")
    return process, match.group(1), ready


def start_server(*args, binary=BINARY):
    """Starts `nemosim serve --port 0`; returns (process, url, seconds to ready line)."""
    return start_process([binary, "serve", "--port", "0", *args], r"nemosim listening on (http://\S+)", "the server")


MOCK = os.path.join(ROOT, "scripts", "bench", "python_mock.py")


def mock_available():
    """Whether the Python aiohttp mock can run (installing aiohttp from PyPI if need be)."""
    probe = [sys.executable, "-c", "import aiohttp"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return True
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aiohttp"], capture_output=True)
    return subprocess.run(probe, capture_output=True).returncode == 0


def start_mock(*args):
    """Starts the Python aiohttp mock (scripts/bench/python_mock.py); returns (process, url, seconds to ready line)."""
    return start_process([sys.executable, MOCK, "--port", "0", *args], r"mock listening on (http://\S+)", "the Python mock")


def stop_server(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def call(url, method="GET", headers=None, body=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# The attribution headers every call but token issuance carries (the default profile asks for them).
ATTRIBUTION = {"X-Skill-Source": "nemosim-bench", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "bench"}


def sign_in(url, client="bench"):
    token = call(url + "/api/auth/anonymous-token", "POST", {"X-Client-Id": client}, b"")["data"]["token"]
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json", **ATTRIBUTION}
    session = call(url + "/api/tasks/me/with-session/nemo_agent", "POST", auth, b'{"task_name":"project","language":""}')["data"]["session_id"]
    return token, session


def bench_startup(runs, start=start_server):
    times = []
    for _ in range(runs):
        process, _, ready = start()
        times.append(ready * 1000)
        stop_server(process)
    return statistics.median(times), min(times), max(times)


def bench_wrk(seconds, connections, start=start_server):
    process, url, _ = start()
    try:
        token, _ = sign_in(url)
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}"]
            + [arg for name, value in ATTRIBUTION.items() for arg in ("-H", f"{name}: {value}")]
            + [url + "/api/credits/balance/simple"], capture_output=True, text=True, check=True).stdout
    finally:
        stop_server(process)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rps, p99.group(1) if p99 else "?", int(errors.group(1)) if errors else 0


async def hold_streams(host, port, token, session, count, hold_seconds):
    body = json.dumps({"app_name": "nemo_agent", "user_id": "me", "session_id": session,
                       "new_message": {"parts": [{"text": "make a video"}]}}).encode()
    head = (f"POST /run_sse HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in ATTRIBUTION.items()) +
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    heartbeats = [0] * count
    writers = []

    failures = {}

    async def one(index):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writers.append(writer)
            writer.write(head + body)
            await writer.drain()
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                heartbeats[index] += chunk.count(b"heartbeat")
        except OSError as error:
            # Told apart from a stream the server did not serve: a client that
            # could not connect (say, no ephemeral port free after an earlier
            # run's connections in TIME_WAIT) is named in the output.
            reason = f"{type(error).__name__}: {error.strerror or error}"
            failures[reason] = failures.get(reason, 0) + 1

    tasks = []
    for index in range(count):
        tasks.append(asyncio.create_task(one(index)))
        if index % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.sleep(hold_seconds)
    counted = sum(1 for beats in heartbeats if beats >= 2)
    for task in tasks:
        task.cancel()
    for writer in writers:
        writer.close()
    for reason, times in failures.items():
        print(f"  (the benchmark's client could not open or keep {times:,} connections: {reason})", file=sys.stderr)
    return counted, heartbeats


def bench_streams(count, hold_seconds, mock=False):
    profile = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"heartbeat_interval_seconds": 1, "generation_cost": 0, "generation_duration_seconds": [3600, 3600],
               "tokens_per_client": 1000}, profile)
    profile.close()
    process, url, _ = start_mock("--heartbeat", "1") if mock else start_server("--profile", profile.name)
    try:
        token, session = sign_in(url)
        base = rss_kib(process.pid)
        base_anonymous = rss_kib(process.pid, "RssAnon")
        host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
        counted, _ = asyncio.run(hold_streams(host, int(port), token, session, count, hold_seconds))
        held = rss_kib(process.pid)
        peak = rss_kib(process.pid, "VmHWM")
        anonymous = rss_kib(process.pid, "RssAnon")
    finally:
        stop_server(process)
        os.unlink(profile.name)
    return counted, base / 1024, held / 1024, peak / 1024, (base_anonymous / 1024, anonymous / 1024)


async def hold_idle(host, port, request, count):
    """Opens `count` keep-alive connections, each sending `request` once and
    reading its answer, then holding the connection open."""
    writers = []

    async def one():
        reader, writer = await asyncio.open_connection(host, port)
        writers.append(writer)
        writer.write(request)
        await writer.drain()
        await reader.readuntil(b"}")

    for start in range(0, count, 500):
        await asyncio.gather(*(one() for _ in range(min(500, count - start))))
    return writers


def bench_idle(count):
    """Server memory per idle keep-alive connection after one request
    answered on the event loop (credits), and after one through the router
    (health): KiB per connection above idle."""
    figures = {}
    for kind in ("event loop", "router"):
        process, url, _ = start_server()
        try:
            token, _ = sign_in(url)
            host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
            if kind == "event loop":
                request = (f"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                           + "".join(f"{name}: {value}\r\n" for name, value in ATTRIBUTION.items()) + "\r\n").encode()
            else:
                request = b"GET /_nemosim/health HTTP/1.1\r\nHost: x\r\n\r\n"
            time.sleep(0.2)
            base = rss_kib(process.pid)

            async def run():
                writers = await hold_idle(host, int(port), request, count)
                await asyncio.sleep(1)
                held = rss_kib(process.pid)
                for writer in writers:
                    writer.close()
                return held

            held = asyncio.run(run())
            figures[kind] = (base / 1024, held / 1024, (held - base) / count)
        finally:
            stop_server(process)
    return figures


def send_queue_bytes(port):
    """The send queue of the server's side of a loopback connection (`ss -tn`)."""
    lines = subprocess.run(["ss", "-tnH", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
    return int(lines[2]) if len(lines) > 2 else 0


def bench_slow_reader(seconds):
    """A client with a 4 KiB receive buffer asks for a stream of 86,400 ADK
    heartbeats due at once (a stall fault at time scale 100,000) and reads
    nothing: the server's send queue and RSS, each second."""
    profile = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"heartbeat_interval_seconds": 1, "sse_dialect": "adk", "initial_credits": 1_000_000,
               "session_idle_ttl_seconds": 31_536_000, "token_ttl_seconds": 31_536_000}, profile)
    profile.close()
    process, url, _ = start_server("--time-scale", "100000", "--profile", profile.name)
    samples = []
    try:
        token, session = sign_in(url)
        host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect((host, int(port)))
        body = json.dumps({"app_name": "nemo_agent", "user_id": "me", "session_id": session, "new_message": {"parts": [{"text": "make a video"}]}})
        head = (f"POST /run_sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in ATTRIBUTION.items())
                + 'X-Nemosim-Fault: {"stall_seconds": 86400}\r\n' + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        base = rss_kib(process.pid)
        client.sendall((head + body).encode())
        for _ in range(seconds):
            time.sleep(1)
            samples.append((send_queue_bytes(port), (rss_kib(process.pid) - base) / 1024))
        client.close()
    finally:
        stop_server(process)
        os.unlink(profile.name)
    return samples


def bench_upload(megabytes):
    path = os.path.join(tempfile.gettempdir(), f"nemosim-bench-{megabytes}mb.mp4")
    if not os.path.exists(path) or os.path.getsize(path) != megabytes * 1024 * 1024:
        with open(path, "wb") as file:
            block = os.urandom(1024 * 1024)
            for _ in range(megabytes):
                file.write(block)
    process, url, _ = start_server()
    try:
        token, session = sign_in(url)
        time.sleep(0.2)
        base = rss_kib(process.pid)
        begin = time.perf_counter()
        output = subprocess.run(
            ["curl", "-s", "-H", f"Authorization: Bearer {token}"]
            + [arg for name, value in ATTRIBUTION.items() for arg in ("-H", f"{name}: {value}")]
            + ["-F", f"files=@{path};type=video/mp4",
             f"{url}/api/upload-video/nemo_agent/me/{session}"], capture_output=True, text=True, check=True).stdout
        seconds = time.perf_counter() - begin
        peak = rss_kib(process.pid, "VmHWM")
        result = json.loads(output)
        ok = result.get("code") == 0 and result["data"]["files"][0]["size"] == megabytes * 1024 * 1024
    finally:
        stop_server(process)
    return ok, base / 1024, peak / 1024, (peak - base) / 1024, megabytes / seconds


async def hostile(host, port, token, idle, slow, idle_timeout):
    """Holds `idle` connections that send nothing and `slow` that send a request
    head one header every 0.5 s (slowloris), measures a normal client's
    requests meanwhile, then how many of the held connections the server
    closed after its idle timeout."""
    closed = {"idle": 0, "slow": 0}
    writers = []

    async def held(kind):
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            closed[kind] += 1
            return
        writers.append(writer)
        try:
            if kind == "slow":
                writer.write(b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
                while True:
                    await writer.drain()
                    try:
                        if not await asyncio.wait_for(reader.read(1024), timeout=0.5):
                            break
                    except asyncio.TimeoutError:
                        writer.write(b"X-Slow: 1\r\n")
                        continue
            else:
                while await reader.read(1024):
                    pass
        except (ConnectionError, OSError):
            pass
        closed[kind] += 1

    tasks = [asyncio.create_task(held("idle")) for _ in range(idle)]
    tasks += [asyncio.create_task(held("slow")) for _ in range(slow)]
    await asyncio.sleep(2)
    # A normal client meanwhile: a new connection per request, as curl does.
    headers = {"Authorization": "Bearer " + token, **ATTRIBUTION}
    latencies = []
    loop = asyncio.get_running_loop()
    for _ in range(200):
        begin = time.perf_counter()
        await loop.run_in_executor(None, call, f"http://{host}:{port}/api/credits/balance/simple", "GET", headers)
        latencies.append((time.perf_counter() - begin) * 1000)
    await asyncio.sleep(2 * idle_timeout + 5)
    result = dict(closed)
    for task in tasks:
        task.cancel()
    for writer in writers:
        writer.close()
    return statistics.median(latencies), max(latencies), result


def bench_hostile(idle, slow, idle_timeout):
    process, url, _ = start_server("--idle-timeout", str(idle_timeout), "--request-timeout", str(idle_timeout))
    try:
        token, _ = sign_in(url)
        host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
        return asyncio.run(hostile(host, int(port), token, idle, slow, idle_timeout))
    finally:
        stop_server(process)


def bench_journal(requests, entries, pad_bytes):
    """Fills the journal with `requests` credits calls (wrk) under the profile's
    `journal_entries` = entries and default `journal_bytes`; returns the
    server's RSS before and after (MiB) and the journal's counts."""
    process, url, _ = start_server()
    try:
        token, _ = sign_in(url)
        call(url + "/_nemosim/profile", "PATCH", {"Content-Type": "application/json"}, json.dumps({"journal_entries": entries}).encode())
        base = rss_kib(process.pid)
        headers = ["-H", f"Authorization: Bearer {token}"] + [arg for name, value in ATTRIBUTION.items() for arg in ("-H", f"{name}: {value}")]
        if pad_bytes:
            headers += ["-H", "X-Pad: " + "p" * pad_bytes]
        began = time.perf_counter()
        while True:
            page = call(url + "/_nemosim/journal?limit=0")
            if page["last_seq"] >= requests:
                break
            subprocess.run(["wrk", "-t2", "-c64", "-d3s", *headers, url + "/api/credits/balance/simple"], capture_output=True, check=True)
        seconds = time.perf_counter() - began
        held = rss_kib(process.pid)
        page = call(url + "/_nemosim/journal?limit=0")
    finally:
        stop_server(process)
    return base / 1024, held / 1024, page, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["startup", "wrk", "streams", "idle", "slow-reader", "upload", "hostile", "journal"], action="append")
    parser.add_argument("--idle-connections", type=int, default=10000, help="idle: keep-alive connections held")
    parser.add_argument("--idle", type=int, default=1000, help="hostile: idle connections held")
    parser.add_argument("--slow", type=int, default=1000, help="hostile: slowloris connections held")
    parser.add_argument("--idle-timeout", type=float, default=10, help="hostile: the server's --idle-timeout and --request-timeout")
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--no-mock", action="store_true", help="skip the Python aiohttp mock's figures")
    parser.add_argument("--hold", type=float, default=5)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--beside", metavar="BINARY", help="wrk: another nemosim binary (an earlier build), measured in turn with this one")
    parser.add_argument("--rounds", type=int, default=6, help="wrk with --beside: rounds, each this build then the other")
    parser.add_argument("--upload-mb", type=int, default=500)
    parser.add_argument("--journal-requests", type=int, default=1_000_000, help="journal: requests sent to fill it")
    args = parser.parse_args()
    only = set(args.only or ["startup", "wrk", "streams", "idle", "slow-reader", "upload", "hostile", "journal"])
    print(f"machine: {os.cpu_count()} cores; nemosim release build")
    mock = not args.no_mock and bool(only & {"startup", "wrk", "streams"}) and mock_available()
    if not args.no_mock and not mock and only & {"startup", "wrk", "streams"}:
        print("the Python aiohttp mock: skipped (aiohttp could not be installed from PyPI)")
    if "startup" in only:
        median, low, high = bench_startup(15)
        print(f"startup to ready line: median {median:.0f} ms (min {low:.0f}, max {high:.0f}) over 15 runs; aim: under 200 ms")
        if mock:
            mock_median, _, _ = bench_startup(5, start_mock)
            print(f"  the Python aiohttp mock: median {mock_median:.0f} ms over 5 runs (nemosim {mock_median / median:.1f}x faster)")
    if "wrk" in only and args.beside:
        # Interleaved, so that both builds see the same moments of a VM whose speed drifts.
        beside = lambda *more: start_server(*more, binary=args.beside)
        pairs = [(bench_wrk(args.wrk_seconds, 64)[0], bench_wrk(args.wrk_seconds, 64, beside)[0]) for _ in range(args.rounds)]
        print(f"credits endpoint, wrk -t2 -c64 -d{args.wrk_seconds}s, {args.rounds} interleaved rounds:")
        for name, rates in (("this build", [pair[0] for pair in pairs]), (args.beside, [pair[1] for pair in pairs])):
            print(f"  {name}: {min(rates):,.0f}-{max(rates):,.0f} requests/s, median {statistics.median(rates):,.0f}")
    elif "wrk" in only:
        runs = [bench_wrk(args.wrk_seconds, 64) for _ in range(3)]
        rates = sorted(run[0] for run in runs)
        errors = sum(run[2] for run in runs)
        print(f"credits endpoint, wrk -t2 -c64 -d{args.wrk_seconds}s, 3 runs: median {rates[1]:,.0f} requests/s "
              f"(min {rates[0]:,.0f}, max {rates[2]:,.0f}), p99 {runs[0][1]}, non-2xx {errors}; aim: 60,000")
        if mock:
            mock_rate, mock_p99, _ = bench_wrk(args.wrk_seconds, 64, start_mock)
            print(f"  the Python aiohttp mock, same JSON: {mock_rate:,.0f} requests/s, p99 {mock_p99} (nemosim {rates[1] / mock_rate:.1f}x)")
    if "streams" in only:
        counted, base, held, peak, (base_anonymous, anonymous) = bench_streams(args.streams, args.hold)
        print(f"event streams with 1 s heartbeats: {counted:,} of {args.streams:,} held and beating after {args.hold:.0f} s; "
              f"server RSS {base:.0f} MiB idle -> {held:.0f} MiB = {held * 1.048576:.0f} MB holding them, "
              f"{(held - base) * 1024 / args.streams:.1f} KiB per stream (peak {peak:.0f} MiB; anonymous, not the binary's "
              f"and libraries' pages: {base_anonymous:.0f} MiB idle -> {anonymous:.0f} MiB = {anonymous * 1.048576:.0f} MB)")
        if mock:
            mock_counted, mock_base, mock_held, mock_peak, (_, mock_anonymous) = bench_streams(args.streams, args.hold, mock=True)
            print(f"  the Python aiohttp mock, same streams: {mock_counted:,} held and beating; RSS {mock_base:.0f} MiB idle -> "
                  f"{mock_held:.0f} MiB = {mock_held * 1.048576:.0f} MB, {(mock_held - mock_base) * 1024 / args.streams:.1f} KiB per stream "
                  f"(peak {mock_peak:.0f} MiB; anonymous {mock_anonymous:.0f} MiB); nemosim's RSS is {held / mock_held:.2f}x the mock's")
    if "idle" in only:
        for kind, (base, held, per) in bench_idle(args.idle_connections).items():
            print(f"{args.idle_connections:,} idle keep-alive connections after one request answered by the {kind}: "
                  f"server RSS {base:.0f} -> {held:.0f} MiB, {per:.1f} KiB per connection")
    if "slow-reader" in only:
        samples = bench_slow_reader(8)
        print("a stream of 86,400 ADK heartbeats to a client that reads nothing (4 KiB receive buffer), each second: "
              + ", ".join(f"send queue {queue / 1e6:.2f} MB / RSS +{grown:.0f} MiB" for queue, grown in samples)
              + " (the stream waits once the socket and NIO's 64 KiB are full)")
    if "hostile" in only:
        median, worst, closed = bench_hostile(args.idle, args.slow, args.idle_timeout)
        print(f"with {args.idle:,} idle and {args.slow:,} slowloris connections held: a normal client's credits requests "
              f"median {median:.1f} ms (max {worst:.1f} ms) over 200 (aim: median under 5 ms); "
              f"closed by the server within {2 * args.idle_timeout + 5:.0f} s: {closed['idle']:,} of {args.idle:,} idle, {closed['slow']:,} of {args.slow:,} slowloris")
    if "journal" in only:
        for entries, pad in [(10_000, 0), (1_000_000, 0), (1_000_000, 8192)]:
            base, held, page, seconds = bench_journal(args.journal_requests, entries, pad)
            print(f"journal after {page['last_seq']:,} credits requests ({seconds:.0f} s){' with an 8 KiB header each' if pad else ''}, "
                  f"journal_entries {entries:,}, journal_bytes {page['maximum_bytes'] >> 20} MiB: {page['kept']:,} kept, {page['dropped']:,} dropped; "
                  f"server RSS {base:.0f} -> {held:.0f} MiB (+{held - base:.0f} MiB; the README's bound: journal_bytes x 1.15 + 10 MiB = "
                  f"{(page['maximum_bytes'] >> 20) * 1.15 + 10:.0f} MiB)")
    if "upload" in only:
        ok, base, peak, growth, rate = bench_upload(args.upload_mb)
        print(f"{args.upload_mb} MB streamed multipart upload: {'ok' if ok else 'FAILED'}, server RSS {base:.0f} MiB before, "
              f"peak {peak:.0f} MiB, growth {growth:.0f} MiB = {growth * 1.048576:.0f} MB, {rate:.0f} MB/s; aim: growth under 32 MB")


if __name__ == "__main__":
    sys.exit(main())
