"""A pytest fixture that runs `nemosim serve` for the tests of an app, and a
helper that reads the simulator's request journal with its query API."""
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request

import pytest


class Simulator:
    def __init__(self, url):
        self.url = url

    def journal(self, **query):
        """Journal entries matching the query (method, path, since, limit, session, account, status, code)."""
        with urllib.request.urlopen(f"{self.url}/_nemosim/journal?{urllib.parse.urlencode(query)}") as response:
            return json.load(response)["entries"]

    def count(self, **query):
        with urllib.request.urlopen(f"{self.url}/_nemosim/journal/count?{urllib.parse.urlencode(query)}") as response:
            return json.load(response)["count"]

    def reset(self):
        request = urllib.request.Request(f"{self.url}/_nemosim/reset", method="POST", data=b"")
        urllib.request.urlopen(request).close()


@pytest.fixture(scope="session")
def nemosim():
    """A simulator on a free port, 1000 times faster than real time, stopped after the tests."""
    binary = os.environ.get("NEMOSIM") or shutil.which("nemosim")
    if not binary:
        pytest.fail("set NEMOSIM to the nemosim binary, or put nemosim on PATH")
    process = subprocess.Popen([binary, "serve", "--port", "0", "--time-scale", "1000", "--seed", "7"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.match(r"nemosim listening on (http://\S+)", line)
    if not match:
        process.kill()
        pytest.fail(f"nemosim did not start: {line!r}")
    yield Simulator(match.group(1))
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


@pytest.fixture
def simulator(nemosim):
    """The simulator, forgotten before each test (accounts, sessions, journal)."""
    nemosim.reset()
    return nemosim
