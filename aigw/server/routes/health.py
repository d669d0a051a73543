from aiohttp import web


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. No auth, no upstream calls."""
    return web.json_response({"status": "ok"})
