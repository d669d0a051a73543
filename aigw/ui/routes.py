"""/ui: the console's pages and static files, and its sign-in API (/ui/api/*).

Every page is a static file shipped in the package (aigw/ui/static); the pages fetch their
data from the JSON admin API with the session cookie. No inline script or style anywhere, so
the Content-Security-Policy allows only this origin's files."""

from __future__ import annotations

import mimetypes
from importlib import resources
from typing import Any

from aiohttp import web

from aigw import __version__
from aigw.auth.admin import ADMIN_SESSIONS, admin_from_token
from aigw.server.middleware import json_response
from aigw.server.request import read_json
from aigw.server.state import config, gateway
from aigw.store.base import StoreUnavailable
from aigw.types import GatewayError, Principal, bad_request
from aigw.ui.limiter import LoginLimiter
from aigw.ui.sessions import COOKIE, Session, Sessions, check_csrf

SESSIONS = web.AppKey("console_sessions", Sessions)
LIMITER = web.AppKey("console_login_limiter", LoginLimiter)
STATIC = web.AppKey("console_static", dict)  # file name -> (bytes, content type)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Read once at start-up from the package (the wheel, or the one-file executable)."""
    out = {}
    for f in resources.files("aigw.ui").joinpath("static").iterdir():
        if f.is_file() and not f.name.startswith("."):
            ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
            if f.name.endswith(".js"):
                ctype = "text/javascript"
            out[f.name] = (f.read_bytes(), ctype)
    return out


def _file(request: web.Request, name: str) -> web.Response:
    body, ctype = request.app[STATIC][name]
    return web.Response(body=body, content_type=ctype, headers=SECURITY_HEADERS)


async def _session(request: web.Request) -> Session | None:
    return await request.app[SESSIONS].of_request(request)


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def app_page(request: web.Request) -> web.Response:
    if await _session(request) is None:
        raise web.HTTPFound("/ui/login", headers=SECURITY_HEADERS)
    return _file(request, "index.html")


async def login_page(request: web.Request) -> web.Response:
    if await _session(request) is not None:
        raise web.HTTPFound("/ui/", headers=SECURITY_HEADERS)
    return _file(request, "login.html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in request.app[STATIC] or name.endswith(".html"):
        raise web.HTTPNotFound()
    return _file(request, name)


def _actor(p: Principal) -> str:
    return f"{p.via}:{p.key_id or p.user_id or 'admin'}"


def _secure(request: web.Request) -> bool:
    mode = config(request).ui.secure_cookie
    if mode != "auto":
        return mode == "always"
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _unauthorized() -> GatewayError:
    return GatewayError(
        401, "Not signed in to the console.", "invalid_request_error", "not_signed_in"
    )


async def login(request: web.Request) -> web.Response:
    """POST /ui/api/login {"key": "<admin key or admin-scoped API key>"}: a session cookie."""
    if request.content_type != "application/json":
        raise bad_request('Send the key as JSON: {"key": "..."}.', "key")
    store = gateway(request).accounts.store
    limiter = request.app[LIMITER]
    addr = request.remote or "unknown"
    wait = limiter.retry_after(addr)
    if wait is not None:
        raise GatewayError(
            429,
            "Too many failed sign-ins from this address; try again later.",
            "rate_limit_exceeded",
            "too_many_sign_ins",
            retry_after=int(wait) + 1,
        )
    body = await read_json(request)
    key = body.get("key")
    if not isinstance(key, str) or not key or len(key) > 4096:
        raise bad_request("'key' (the admin key or an admin-scoped API key) is required", "key")
    try:
        p = await admin_from_token(request, key)
    except GatewayError as e:
        if e.status >= 500:
            raise
        limiter.failed(addr)
        limited = limiter.retry_after(addr) is not None
        await _audit(store, f"console:{addr}", "console.login_failed", {"limited": limited})
        raise GatewayError(
            401,
            "That is not the admin key or an admin-scoped API key.",
            "invalid_request_error",
            "invalid_api_key",
        ) from None
    limiter.succeeded(addr)
    actor = _actor(p)
    s = await request.app[SESSIONS].create(actor)
    await _audit(store, actor, "console.login", {"address": addr})
    resp = json_response(
        {"object": "console.session", "actor": actor, "expires_at": s.expires_at},
        headers=SECURITY_HEADERS,
    )
    resp.set_cookie(
        COOKIE,
        s.token,
        max_age=int(config(request).ui.session_ttl),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    return resp


async def _audit(store: Any, actor: str, action: str, detail: dict[str, Any]) -> None:
    try:
        await store.audit(actor, action, None, detail)
    except StoreUnavailable:
        raise GatewayError(
            503,
            "The store is unavailable right now; retry shortly.",
            "api_error",
            "store_unavailable",
            retry_after=5,
        ) from None


async def logout(request: web.Request) -> web.Response:
    """POST /ui/api/logout (with the CSRF header): ends the session everywhere."""
    s = await _session(request)
    if s is None:
        raise _unauthorized()
    check_csrf(request, s)
    await request.app[SESSIONS].end(s.token)
    await _audit(gateway(request).accounts.store, s.actor, "console.logout", {})
    resp = json_response(
        {"object": "console.session", "signed_out": True}, headers=SECURITY_HEADERS
    )
    resp.del_cookie(COOKIE, path="/")
    return resp


async def session_info(request: web.Request) -> web.Response:
    """GET /ui/api/session: who is signed in, until when, and the CSRF token for changes."""
    s = await _session(request)
    if s is None:
        raise _unauthorized()
    cfg = config(request)
    return json_response(
        {
            "object": "console.session",
            "actor": s.actor,
            "expires_at": s.expires_at,
            "csrf_token": s.csrf,
            "log_prompts": cfg.logging.log_prompts,
            "version": __version__,
        },
        headers=SECURITY_HEADERS,
    )


def add_routes(app: web.Application) -> None:
    """Only when `ui.enabled`: without these routes /ui is a 404 and no session is honoured."""
    from aigw.server.state import CONFIG, GATEWAY

    cfg = app[CONFIG]
    accounts = app[GATEWAY].accounts

    async def key_is_admin(key_id: str) -> bool:
        recs = await accounts.store.find_keys(key_id)
        return any(r.id == key_id and r.status() == "active" and "admin" in r.scopes for r in recs)

    sessions = Sessions(accounts.store, cfg.ui, key_is_admin)
    app[SESSIONS] = sessions
    app[ADMIN_SESSIONS] = sessions
    app[LIMITER] = LoginLimiter(cfg.ui.max_failed_logins, cfg.ui.failed_login_window)
    app[STATIC] = _static_files()
    app.router.add_get("/ui", root)
    app.router.add_get("/ui/", app_page)
    app.router.add_get("/ui/login", login_page)
    app.router.add_get("/ui/static/{name}", static)
    app.router.add_post("/ui/api/login", login)
    app.router.add_post("/ui/api/logout", logout)
    app.router.add_get("/ui/api/session", session_info)
