"""The console's security, against the real server on SQLite and PostgreSQL: sessions, cookie
flags, CSRF, the Content-Security-Policy, the sign-in limiter, who may sign in, and the
switch that turns it all off."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import aiohttp

from aigw.ui.routes import CSP
from aigw.ui.sessions import COOKIE
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import ADMIN_KEY, accounts_config, all_table_text, new_key


async def console(mock: Any, start_gateway: Any, db_url: str, **ui: Any) -> Any:
    return await start_gateway(
        accounts_config(mock.url, db_url, ui=ui) if ui else accounts_config(mock.url, db_url)
    )


async def sign_in(
    gw: Any, key: str = ADMIN_KEY, **headers: str
) -> tuple[aiohttp.ClientResponse, str | None]:
    """POST /ui/api/login; the response and the session cookie's value (None if unset)."""
    async with gw.http.post(gw.url + "/ui/api/login", json={"key": key}, headers=headers) as r:
        await r.read()
        morsel = r.cookies.get(COOKIE)
        return r, (morsel.value if morsel is not None and morsel.value else None)


class Session:
    """A client with its own cookie jar (unsafe: the test server is on an IP address)."""

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Session:
        async with self.http.post(self.gw.url + "/ui/api/login", json={"key": ADMIN_KEY}) as r:
            assert r.status == 200, await r.text()
        async with self.http.get(self.gw.url + "/ui/api/session") as r:
            assert r.status == 200
            self.csrf = (await r.json())["csrf_token"]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.http.request(method, self.gw.url + path, allow_redirects=False, **kw)


async def test_no_session_redirects_to_sign_in_and_admin_api_needs_credentials(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url)
    async with gw.http.get(gw.url + "/ui/", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/ui/login"
    async with gw.http.get(gw.url + "/ui", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/ui/"
    async with gw.http.get(gw.url + "/ui/api/session") as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "not_signed_in"
    for path in ("/v1/admin/overview", "/v1/admin/requests", "/v1/admin/audit"):
        async with gw.http.get(gw.url + path) as r:
            assert r.status == 401, path
    # A made-up session cookie is no session.
    async with gw.http.get(
        gw.url + "/v1/admin/audit", headers={"Cookie": f"{COOKIE}=forged-token"}
    ) as r:
        assert r.status == 401


async def test_cookie_flags_and_only_a_hash_is_stored(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url)
    r, token = await sign_in(gw)
    assert r.status == 200 and token
    raw = r.headers.getall("Set-Cookie")[0]
    c = SimpleCookie(raw)[COOKIE]
    assert c["httponly"] is True and c["samesite"] == "Strict" and c["path"] == "/"
    assert int(c["max-age"]) == 8 * 3600
    assert not c["secure"]  # plain HTTP on loopback
    # Behind a TLS proxy the cookie is Secure.
    r2, _ = await sign_in(gw, **{"X-Forwarded-Proto": "https"})
    assert SimpleCookie(r2.headers.getall("Set-Cookie")[0])[COOKIE]["secure"] is True
    # The token is nowhere in the database, nor the admin key; its hash is.
    text = await all_table_text(store)
    assert token not in text and ADMIN_KEY not in text
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest() in text


async def test_csrf_is_needed_for_every_change(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url)
    async with Session(gw) as s:
        # Reading needs only the cookie.
        async with s.request("GET", "/v1/admin/api-keys") as r:
            assert r.status == 200
        body = {"org": "acme"}
        for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
            async with s.request("POST", "/v1/admin/api-keys", json=body, headers=headers) as r:
                assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_failed"
        # The right token, but from another site: refused too.
        evil = {"X-CSRF-Token": s.csrf, "Origin": "https://evil.example"}
        async with s.request("POST", "/v1/admin/api-keys", json=body, headers=evil) as r:
            assert r.status == 403
        ok = {"X-CSRF-Token": s.csrf}
        async with s.request("POST", "/v1/admin/api-keys", json=body, headers=ok) as r:
            assert r.status == 201
            kid = (await r.json())["id"]
        for method, path in (
            ("DELETE", f"/v1/admin/api-keys/{kid}"),
            ("POST", f"/v1/admin/api-keys/{kid}/rotate"),
            ("POST", "/ui/api/logout"),
        ):
            async with s.request(method, path) as r:
                assert r.status == 403, (method, path)
        async with s.request("POST", f"/v1/admin/api-keys/{kid}/rotate", headers=ok) as r:
            assert r.status == 201
        async with s.request("DELETE", f"/v1/admin/api-keys/{kid}", headers=ok) as r:
            assert r.status == 200
        # The key changes carry the console's actor in the audit log.
        entries = await store.audit_entries()
        assert entries[0]["actor"] == "console:admin_key:admin"
        # Sign-out ends the session on the server: the old cookie opens nothing.
        async with s.request("POST", "/ui/api/logout", headers=ok) as r:
            assert r.status == 200
        async with s.request("GET", "/v1/admin/api-keys") as r:
            assert r.status == 401


async def test_security_headers_and_no_inline_code(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url)
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    async with Session(gw) as s:
        for path in ("/ui/", "/ui/static/app.js", "/ui/static/app.css", "/ui/api/session"):
            async with s.request("GET", path) as r:
                assert r.status == 200, path
                assert r.headers["Content-Security-Policy"] == CSP
                assert r.headers["X-Frame-Options"] == "DENY"
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Cache-Control"] == "no-store"
        async with s.request("GET", "/ui/static/nope.js") as r:
            assert r.status == 404
        async with s.request("GET", "/ui/static/index.html") as r:
            assert r.status == 404  # pages only through their routes
    for path in ("/ui/login",):
        async with gw.http.get(gw.url + path) as r:
            html = await r.text()
            assert r.headers["Content-Security-Policy"] == CSP
    from importlib import resources

    for f in resources.files("aigw.ui").joinpath("static").iterdir():
        if f.name.endswith(".html"):
            html = f.read_text()
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), f.name  # no inline script
            assert "<style" not in html and " style=" not in html, f.name
            assert not re.search(r"\son[a-z]+=", html), f.name  # no inline handlers


async def test_normal_key_cannot_reach_the_console(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: dict[str, str]
) -> None:
    gw = await console(mock, start_gateway, db_url)
    normal = await new_key(gw, admin, scopes=["chat", "usage"])
    r, token = await sign_in(gw, normal["key"])
    assert r.status == 401 and token is None
    async with gw.http.get(
        gw.url + "/v1/admin/requests", headers={"Authorization": f"Bearer {normal['key']}"}
    ) as r:
        assert r.status == 403
    # An admin-scoped key may sign in; when it is revoked its sessions end.
    admin_scoped = await new_key(gw, admin, scopes=["admin"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(gw.url + "/ui/api/login", json={"key": admin_scoped["key"]}) as r:
            assert r.status == 200
            assert (await r.json())["actor"] == f"api_key:{admin_scoped['id']}"
        async with http.get(gw.url + "/v1/admin/audit") as r:
            assert r.status == 200
        async with gw.http.delete(
            gw.url + f"/v1/admin/api-keys/{admin_scoped['id']}", headers=admin
        ) as r:
            assert r.status == 200
        async with http.get(gw.url + "/v1/admin/audit") as r:
            assert r.status == 401
        async with http.get(gw.url + "/ui/", allow_redirects=False) as r:
            assert r.status == 302


async def test_sign_in_limiter_refuses_and_audits(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url, max_failed_logins=3)
    for _ in range(3):
        r, _ = await sign_in(gw, "wrong-key")
        assert r.status == 401
    # Limited now: even the right key waits, so guessing cannot go on.
    r, token = await sign_in(gw, ADMIN_KEY)
    assert r.status == 429 and token is None and int(r.headers["Retry-After"]) >= 1
    failed = await store.audit_entries(action="console.login_failed")
    assert len(failed) == 3 and failed[0]["detail"] == {"limited": True}
    assert failed[-1]["actor"] == "console:127.0.0.1"
    assert "wrong-key" not in await all_table_text(store)  # a tried key is never stored
    # Bad bodies are a 400, not a failed attempt.
    async with gw.http.post(gw.url + "/ui/api/login", data="key=x") as r:
        assert r.status == 400


async def test_expired_and_idle_sessions_end(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url)
    async with Session(gw) as s:
        await store.execute("UPDATE console_sessions SET expires_at = 1")
        async with s.request("GET", "/ui/api/session") as r:
            assert r.status == 401
        assert await store.fetch("SELECT * FROM console_sessions") == []  # deleted on sight
    async with Session(gw) as s:
        await store.execute("UPDATE console_sessions SET last_seen_at = 1")
        async with s.request("GET", "/v1/admin/overview") as r:
            assert r.status == 401


async def test_console_can_be_switched_off(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: Any
) -> None:
    gw = await console(mock, start_gateway, db_url, enabled=False)
    for method, path in (("GET", "/ui/"), ("GET", "/ui/login"), ("POST", "/ui/api/login")):
        async with gw.http.request(method, gw.url + path, json={"key": ADMIN_KEY}) as r:
            assert r.status in (404, 405), path
    # A session made while it was on is not honoured by the admin API.
    from aigw.ui.sessions import Sessions

    s = await Sessions(store, gw.gateway.config.ui).create("admin_key:admin")
    async with gw.http.get(
        gw.url + "/v1/admin/audit", headers={"Cookie": f"{COOKIE}={s.token}"}
    ) as r:
        assert r.status == 401
