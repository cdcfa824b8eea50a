#!/usr/bin/env python3
"""The peer nemosim's benchmarks compare with: a minimal hand-written mock of
the API in Python on aiohttp, the kind a team writes in an afternoon. It
answers token issuance, session creation and the credits endpoint with
fixed JSON, and streams `/run_sse` as typed events: a tool call, then a
heartbeat every HEARTBEAT seconds until the client leaves. Prints
`mock listening on http://HOST:PORT` when ready, as `nemosim serve` does.

    python3 scripts/bench/python_mock.py [--port 0] [--heartbeat 1]
"""
import argparse
import asyncio
import json
import socket
import sys

from aiohttp import web

TOKEN = {"code": 0, "message": "success", "data": {"token": "nmv_usr_mock", "user_id": "usr_mock", "credits": 100}}
SESSION = {"code": 0, "message": "success", "data": {"session_id": "mock_session", "task_id": "mock_task"}}
CREDITS = json.dumps({"code": 0, "message": "success", "data": {"available": 100, "frozen": 0, "total": 100}})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    args = parser.parse_args()

    async def token(_request):
        return web.json_response(TOKEN)

    async def session(_request):
        return web.json_response(SESSION)

    async def credits(_request):
        return web.Response(text=CREDITS, content_type="application/json")

    async def run_sse(request):
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(b'data: {"type":"tool_call","name":"generate_video_with_seedance","args":{}}\n\n')
        try:
            while True:
                await asyncio.sleep(args.heartbeat)
                await response.write(b'data: {"type":"heartbeat"}\n\n')
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application()
    app.router.add_post("/api/auth/anonymous-token", token)
    app.router.add_post("/api/tasks/me/with-session/nemo_agent", session)
    app.router.add_get("/api/credits/balance/simple", credits)
    app.router.add_post("/run_sse", run_sse)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(4096)

    async def serve():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, listener, backlog=4096).start()
        print(f"mock listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
