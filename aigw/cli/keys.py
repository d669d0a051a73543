"""`aigw keys create | list | revoke | rotate`: API keys in the same database as `aigw serve`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aigw.auth.key_spec import SCOPES, InvalidKeySpec
from aigw.auth.keys import KeyHasher, KeyNotFound, KeyService
from aigw.cli.migrate import ConfigOption, load_config, with_store
from aigw.config import Config, parse_duration
from aigw.config_problems import did_you_mean
from aigw.limits.settings import LIMIT_FIELDS
from aigw.store import Store
from aigw.store import migrations as mig

keys_app = typer.Typer(help="API keys: create, list, revoke, rotate.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


def _service(cfg: Config, store: Store) -> KeyService:
    return KeyService(store, KeyHasher(cfg.auth.hash_secret), cfg.auth.rotate_grace)


async def _ready(store: Store) -> None:
    # Like `aigw serve`: a brand-new embedded database is created; anything else must be
    # migrated explicitly.
    await mig.check(store, auto_if_empty=store.dialect == "sqlite")


def _run(cfg: Config, work: Any) -> Any:
    async def go(store: Store) -> Any:
        await _ready(store)
        try:
            return await work(_service(cfg, store))
        except KeyNotFound as e:
            typer.echo(f"error: {e.args[0]}", err=True)
            raise typer.Exit(1) from None
        except InvalidKeySpec as e:  # the same rules as the admin API (auth/key_spec.py)
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None

    try:
        return with_store(cfg, go)
    except mig.NotMigrated as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


def _ts(v: float | None) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M") if v else "-"


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return out or None


def _parse_limits(items: list[str]) -> dict[str, int | None]:
    """`--limit NAME=VALUE` (VALUE an integer, or none/off) -> limits; the values' rules
    are the admin API's (`key_spec`), applied when the key is created."""
    out: dict[str, int | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{item!r}: use NAME=VALUE")
        if key not in LIMIT_FIELDS:  # named as key_spec names it, with the closest name
            raise InvalidKeySpec(
                f"limits.{key}",
                f"unknown limit {key!r}{did_you_mean(key, list(LIMIT_FIELDS))}; "
                f"valid limits: {', '.join(LIMIT_FIELDS)}",
            )
        v = value.strip().lower()
        try:
            out[key] = None if v in ("none", "null", "off") else int(v)
        except ValueError:
            raise ValueError(f"{item!r}: the value must be an integer") from None
    return out


def _check_scopes(scopes: list[str]) -> list[str]:
    # A typo gets the closest scope; the full rules are `key_spec`'s, at creation.
    for s in scopes:
        if s not in SCOPES:
            raise InvalidKeySpec(
                "scopes",
                f"unknown scope {s!r}{did_you_mean(s, list(SCOPES))}; "
                f"valid scopes: {', '.join(SCOPES)}",
            )
    return scopes


def _unrouted(cfg: Config, models: list[str]) -> list[str]:
    """Models no route of this config knows: neither a configured name nor
    `<configured provider>/<model>`."""
    return [m for m in models if m not in cfg.models and m.partition("/")[0] not in cfg.providers]


def _say_where(cfg: Config) -> None:
    # The CLI finds its database from --config / AIGW_CONFIG / AIGW_DATA_DIR, or `.aigw/` in
    # the current directory: say which, so a key never lands silently where the server
    # does not look.
    db = cfg.database
    where = (
        "sqlite:///" + os.path.abspath(db.sqlite_path(cfg.data_dir))
        if db.dialect() == "sqlite"
        else db.describe(cfg.data_dir)
    )
    typer.echo(f"database: {where}", err=True)


@keys_app.command("create")
def create(
    org: str = typer.Option(..., "--org", help="Organisation the key belongs to."),
    user: str | None = typer.Option(None, "--user", help="User the key belongs to."),
    name: str = typer.Option("", "--name", help="A label for people."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 30d, 12h."),
    models: list[str] | None = typer.Option(
        None, "--models", help="Allowed models (comma-separated or repeated); default: all."
    ),
    scopes: list[str] | None = typer.Option(
        None, "--scopes", help="chat, embeddings, models, usage, admin; default: all but admin."
    ),
    priority: int = typer.Option(0, "--priority", help="Priority tier (higher first)."),
    limit: list[str] | None = typer.Option(
        None,
        "--limit",
        help="Rate-limit override NAME=VALUE (repeatable), e.g. requests_per_minute=60.",
    ),
    budget_day: float | None = typer.Option(None, "--budget-day", help="USD per day."),
    budget_month: float | None = typer.Option(None, "--budget-month", help="USD per month."),
    tokens_day: int | None = typer.Option(None, "--tokens-day", help="Token quota per day."),
    tokens_month: int | None = typer.Option(None, "--tokens-month", help="Tokens per month."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    cfg = load_config(config)
    try:
        expires_in = parse_duration(expires) if expires else None
    except ValueError as e:
        typer.echo(f"error: --expires: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        limits = _parse_limits(limit or [])
        scope_list = _check_scopes(_split(scopes) or [])
    except InvalidKeySpec as e:  # a name key_spec would refuse, said with the closest one
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except ValueError as e:
        typer.echo(f"error: --limit: {e}", err=True)
        raise typer.Exit(2) from None
    model_list = _split(models)
    for m in _unrouted(cfg, model_list or []):
        typer.echo(
            f"warning: no route in this config knows the model {m!r}; "
            "the key allows it, but requests for it will fail until one does",
            err=True,
        )
    budget = {
        k: v
        for k, v in {
            "usd_per_day": budget_day,
            "usd_per_month": budget_month,
            "tokens_per_day": tokens_day,
            "tokens_per_month": tokens_month,
        }.items()
        if v is not None
    }

    async def work(svc: KeyService) -> tuple[str, Any]:
        return await svc.create(
            org,
            user_id=user,
            name=name,
            expires_in=expires_in,
            models=model_list,
            scopes=scope_list or None,
            limits=limits or None,
            budget=budget or None,
            priority=priority,
        )

    plain, rec = _run(cfg, work)
    if as_json:
        typer.echo(orjson.dumps({"key": plain, **rec.public()}).decode())
    else:
        typer.echo(plain)
        typer.echo(
            f"created {rec.id} for org {rec.org_id} (prefix {rec.prefix}); "
            "this is the only time the key is shown: store it now.",
            err=True,
        )
    _say_where(cfg)


@keys_app.command("list")
def list_keys(
    org: str | None = typer.Option(None, "--org", help="Only this organisation's keys."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """List keys (prefixes only, never the keys)."""
    cfg = load_config(config)

    async def work(svc: KeyService) -> list[Any]:
        return await svc.list(org)

    recs = _run(cfg, work)
    if as_json:
        typer.echo(orjson.dumps([r.public() for r in recs]).decode())
        return
    t = Table(title="API keys")
    for col in ("id", "prefix", "org", "user", "name", "models", "status", "expires", "last used"):
        t.add_column(col)
    for r in recs:
        t.add_row(
            r.id,
            r.prefix + "...",
            r.org_id,
            r.user_id or "-",
            r.name or "-",
            ",".join(r.models) if r.models else "all",
            r.status(),
            _ts(r.expires_at),
            _ts(r.last_used_at),
        )
    Console(width=160).print(t)


@keys_app.command("revoke")
def revoke(
    key: str = typer.Argument(..., help="Key id (key_...) or prefix (aigw_...)."),
    config: Path | None = ConfigOption,
) -> None:
    """Revoke a key (running servers stop accepting it within auth.key_cache_ttl)."""
    cfg = load_config(config)

    async def work(svc: KeyService) -> Any:
        return await svc.revoke(key)

    rec = _run(cfg, work)
    typer.echo(f"revoked {rec.id} ({rec.prefix}...)")
    _say_where(cfg)


@keys_app.command("rotate")
def rotate(
    key: str = typer.Argument(..., help="Key id (key_...) or prefix (aigw_...)."),
    grace: str | None = typer.Option(
        None, "--grace", help="How long the old key stays valid (default auth.rotate_grace)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """Issue a new key with the same settings; the old one works until the grace ends."""
    cfg = load_config(config)
    grace_s = parse_duration(grace) if grace else None

    async def work(svc: KeyService) -> Any:
        return await svc.rotate(key, grace_s)

    plain, new, old = _run(cfg, work)
    if as_json:
        typer.echo(orjson.dumps({"key": plain, **new.public(), "old": old.public()}).decode())
    else:
        typer.echo(plain)
        typer.echo(
            f"rotated {old.id} -> {new.id} (prefix {new.prefix}); the old key stays valid "
            f"until {_ts(old.expires_at)} UTC",
            err=True,
        )
    _say_where(cfg)
