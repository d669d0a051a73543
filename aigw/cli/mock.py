"""`aigw mock`: a stand-in provider on loopback answering in OpenAI's, Anthropic's and
Cohere's shapes, so aigw can be tried (and demoed, and load-tested) without provider keys.
The same mock `aigw bench --mock-upstream` uses, with Anthropic and Cohere beside it."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import typer
from aiohttp import web

from aigw.bench.mock_anthropic import MockAnthropic
from aigw.bench.mock_cohere import MockCohere
from aigw.bench.mock_upstream import DEFAULT_TEXT, MockOpenAI
from aigw.cli.serve import StartupFailed, listen


def register(app: typer.Typer) -> None:
    app.command("mock")(mock)


def _bad_request(path: str, message: str) -> web.Response:
    """A 400 in the shape of the provider whose path was called."""
    if path.startswith("/v1/messages"):
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message},
        }
    elif path.startswith("/v2/"):
        body = {"message": message}
    else:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    return web.json_response(body, status=400)


@web.middleware
async def _malformed_is_400(request: web.Request, handler: Any) -> web.StreamResponse:
    # The mocks read what a well-formed request holds; anything else is the caller's
    # mistake, answered like the provider would, never a 500 with a traceback.
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
        return _bad_request(request.path, f"malformed request: {type(e).__name__}")


def mock_app(text: str = DEFAULT_TEXT) -> web.Application:
    """One app, three providers' paths: OpenAI under /v1/chat/completions, /v1/embeddings,
    /v1/models; Anthropic under /v1/messages; Cohere under /v2/chat and /v2/embed."""
    app = MockOpenAI(text=text, quiet_calls=True).app()
    app.middlewares.append(_malformed_is_400)
    MockAnthropic(text).routes(app)
    MockCohere(text).routes(app)
    return app


def mock(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(9999, "--port", "-p", help="Port to listen on."),
    text: str = typer.Option(DEFAULT_TEXT, "--text", help="What every answer says."),
) -> None:
    """Run a mock provider (OpenAI, Anthropic and Cohere shapes) until Ctrl-C."""
    try:
        sock = listen(host, port, reuse_port=False)
    except StartupFailed as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    port = sock.getsockname()[1]
    url = f"http://{host}:{port}"
    typer.echo(f"aigw mock: answering as OpenAI, Anthropic and Cohere on {url}", err=True)
    typer.echo(
        f"  point aigw at it: OPENAI_BASE_URL={url}/v1 ANTHROPIC_BASE_URL={url} "
        f"COHERE_BASE_URL={url} (any key will do)",
        err=True,
    )

    async def run() -> None:
        runner = web.AppRunner(mock_app(text), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(run())
