"""The reference floor: the least an aiohttp + uvloop proxy can do.

One shared ClientSession; every POST is forwarded to the upstream with its body and content
type, and the answer comes back with its status and content type: read whole for JSON,
relayed chunk by chunk for streams. Nothing else (no auth, no parsing, no logging), so
aigw's figures divided by these are the price of everything aigw adds.

    python bench/reference_proxy.py --upstream http://127.0.0.1:9000 --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[SESSION]
    url = request.app[UPSTREAM] + request.path_qs
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    async with session.post(url, data=body, headers=headers) as up:
        ctype = up.headers.get("Content-Type", "application/json")
        if not ctype.startswith("text/event-stream"):
            return web.Response(
                status=up.status, body=await up.read(), headers={"Content-Type": ctype}
            )
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def start(app: web.Application) -> None:
        app[SESSION] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
            skip_auto_headers=("User-Agent",),
        )

    async def stop(app: web.Application) -> None:
        await app[SESSION].close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/{tail:.*}", forward)
    app.router.add_get("/{tail:.*}", forward_get)
    return app


async def forward_get(request: web.Request) -> web.Response:
    # Only so a readiness probe (GET /v1/models) gets through.
    async with request.app[SESSION].get(request.app[UPSTREAM] + request.path_qs) as up:
        return web.Response(status=up.status, body=await up.read())


async def serve(upstream: str, sock: socket.socket) -> None:
    runner = web.AppRunner(make_app(upstream), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="upstream origin, e.g. http://127.0.0.1:9000")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    args = ap.parse_args()
    import uvloop

    uvloop.install()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
