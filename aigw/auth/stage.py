"""Stage 2: authentication. Every /v1 request gets `ctx.principal` from its API key or JWT
(anonymous only with `auth.required: false`), then scope and model checks (403)."""

from __future__ import annotations

from aiohttp import web

from aigw.auth.authenticator import Authenticator, token_from
from aigw.component import StageComponent
from aigw.pipeline import Handler, RequestContext, Result
from aigw.types import Principal

# The models a credential may use, for /v1/models (absent: every model).
PRINCIPAL_MODELS = web.RequestKey("principal_models", frozenset)


class AuthStage(StageComponent):
    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        token = token_from(ctx.headers)
        p = self.auth.known(token)  # a cached key: no coroutine, no I/O
        if p is None:
            p = await self.auth.identify(token)
        if p is not None:  # anonymous (auth off): the context keeps its default principal
            self.auth.authorize(p, ctx.endpoint, ctx.model)
            ctx.principal = p
        return await call_next(ctx)


async def authenticate_request(request: web.Request, scope: str | None = None) -> Principal:
    """For routes outside the pipeline (/v1/models, /v1/usage): the caller's principal, with
    `request[PRINCIPAL_MODELS]` set when the credential limits its models."""
    from aigw.server.state import gateway

    auth = gateway(request).accounts.auth
    p = await auth.authenticate(token_from(request.headers))
    if scope is not None:
        auth.authorize(p, scope, None)
    if p.allowed_models is not None:
        request[PRINCIPAL_MODELS] = p.allowed_models
    return p
