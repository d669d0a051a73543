"""Configuration: YAML with ${VAR} / ${VAR:-default} interpolation, validated at start-up.

Every problem becomes one `ConfigError` line that names the key path, e.g.
`config error: providers.openai.timeout: invalid duration 'soon' (use e.g. 500ms, 30s, 5m)`.
Each stage keeps its own section model next to its code (`aigw/<stage>/settings.py`), built
from the shared blocks in `aigw/sections.py`; this module assembles them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aigw.auth.settings import AuthConfig
from aigw.batches.settings import BatchesConfig
from aigw.billing.settings import BillingConfig
from aigw.cache.settings import CacheConfig
from aigw.config_problems import config_problems, did_you_mean, references, with_references
from aigw.limits.settings import RateLimitSettings
from aigw.observability.settings import ObservabilityConfig
from aigw.providers import registry
from aigw.providers.settings import ProviderConfig
from aigw.responses.settings import ResponsesConfig
from aigw.routing.router_settings import RoutersConfig
from aigw.routing.settings import RoutingSettings
from aigw.sections import (  # noqa: F401  (re-exported for callers of aigw.config)
    ConfigError,
    Duration,
    Section,
    Size,
    parse_duration,
    parse_size,
)
from aigw.store.settings import DatabaseConfig
from aigw.ui.settings import UIConfig

# --- sections owned by this module ----------------------------------------------------------


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=256)
    read_timeout: Duration = 30.0  # client must send its request within this
    write_timeout: Duration = 30.0  # a non-streamed answer must be written within this
    max_body_bytes: Size = 10 * 1000**2
    drain_timeout: Duration = 30.0  # on SIGTERM: how long in-flight requests may finish
    request_timeout: Duration = 600.0  # default deadline of a whole request
    header_timeout: Duration = Field(10.0, gt=0)  # request line + headers must arrive within
    idle_timeout: Duration = Field(75.0, gt=0)  # an idle keep-alive connection is closed after
    max_connections: int = Field(10_000, ge=0)  # open client connections per worker (0: no cap)
    lean_front: bool = True  # hot calls served without aiohttp's server (server/front.py)


class DeploymentConfig(Section):
    provider: str
    model: str | None = None  # upstream model name; defaults to the client-facing name
    weight: float = Field(1.0, gt=0)
    max_concurrency: int | None = Field(None, ge=1)
    price: dict[str, float] | None = None  # {input, output, cached_input} USD per 1M tokens
    name: str = ""  # filled: "<provider>/<model>"


class ModelConfig(Section):
    """A client-facing model name. Short forms accepted:
    `{provider: p, model: m}` (one deployment) and a list of those."""

    deployments: list[DeploymentConfig]
    fallbacks: list[str] = Field(default_factory=list)
    balancer: Literal["weighted", "least_busy", "lowest_latency"] = "weighted"
    router: str | None = None  # name of a cost router (routing issue)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {"deployments": v}
        if isinstance(v, dict) and "deployments" not in v and "provider" in v:
            dep = {k: v[k] for k in v if k not in ("fallbacks", "balancer", "router")}
            rest = {k: v[k] for k in v if k in ("fallbacks", "balancer", "router")}
            return {"deployments": [dep], **rest}
        return v


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    access_log: bool = True
    log_prompts: bool = False  # prompts and answers reach the logs only when this is on


KNOWN_PROVIDER_TYPES = tuple(registry.names())


def _provider_settings(name: str, raw: Any, env: dict[str, str] | None) -> Any:
    """`providers.<name>` validated with its type's own settings model (errors keep the key
    path); the type defaults to the name when that is a known type, and an entry named after
    its type takes the settings it leaves out from the type's environment variables
    (`providers: {groq: {}}` with GROQ_API_KEY set is enough)."""
    if not isinstance(raw, dict):
        return raw  # the field's own validation says what is wrong
    ptype = raw.get("type") or name
    if not isinstance(ptype, str) or ptype not in registry.SPECS:
        if not raw.get("type"):
            raise ValueError(
                f"providers.{name}.type: missing (one of {', '.join(registry.names())})"
            )
        raise ValueError(
            f"providers.{name}.type: unknown provider type {ptype!r} "
            f"(one of {', '.join(registry.names())})"
        )
    spec = registry.spec(ptype)
    # Only the entry named after its type takes the type's variables: `vllm: {type: openai}`
    # must never be sent OPENAI_API_KEY.
    if env and name == ptype:
        from_env = {"api_key": spec.key_env, "base_url": spec.base_url_env, **spec.env_settings}
        raw = {
            **{k: env[var] for k, var in from_env.items() if var and env.get(var)},
            **{k: v for k, v in raw.items() if v is not None},
        }
    try:
        conf = spec.settings.model_validate({**raw, "name": name, "type": ptype})
    except ValidationError as e:
        lines = []  # every problem of this provider, each with its key path
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key" + did_you_mean(
                    str(err["loc"][-1]), list(spec.settings.model_fields)
                )
            for prefix in ("Value error, ", "Assertion failed, "):
                msg = msg.removeprefix(prefix)
            lines.append(f"providers.{name}.{loc}: {msg}")
        raise ValueError("\n".join(lines)) from None
    if not conf.base_url:
        conf.base_url = spec.default_base_url
    return conf


class Config(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    routers: RoutersConfig = Field(default_factory=dict)  # cost routers, after models
    data_dir: str = Field(default_factory=lambda: os.environ.get("AIGW_DATA_DIR", ".aigw"))
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    billing: BillingConfig = Field(default_factory=BillingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    rate_limiting: RateLimitSettings = Field(default_factory=RateLimitSettings)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    ui: UIConfig = Field(default_factory=UIConfig)  # the admin console at /ui
    batches: BatchesConfig = Field(default_factory=BatchesConfig)

    @field_validator("providers", mode="before")
    @classmethod
    def _provider_types(cls, v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, dict):
            return v
        env = (info.context or {}).get("env")
        out, problems = {}, []
        for name, raw in v.items():  # every provider's problems, not only the first one's
            try:
                out[name] = _provider_settings(str(name), raw, env)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("\n".join(problems))
        return out

    @model_validator(mode="after")
    def _link(self) -> Config:
        problems: list[str] = []  # all of them at once, one line each
        for name, p in self.providers.items():
            if not p.name or not p.type:  # built in code, not from a file
                p.name = p.name or name
                p.type = p.type or name
            if p.type not in registry.SPECS:
                problems.append(
                    f"providers.{name}.type: unknown provider type {p.type!r} "
                    f"(one of {', '.join(registry.names())})"
                )
                continue
            if not p.base_url:
                p.base_url = registry.spec(p.type).default_base_url
        for mname, m in self.models.items():
            for d in m.deployments:
                d.model = d.model or mname
                d.name = f"{d.provider}/{d.model}"
        problems += references(
            list(self.providers),
            {n: ([d.provider for d in m.deployments], m.fallbacks) for n, m in self.models.items()},
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self


# --- loading ------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_TOKEN = re.compile(r"__aigw_var_(\d+)__")


def protect_vars(text: str) -> tuple[str, list[re.Match[str]]]:
    """Swap each ${...} in the file for a plain token before YAML parses it, so the seed's
    flow style (`{api_key: ${OPENAI_API_KEY}}`) parses and values cannot inject YAML."""
    found: list[re.Match[str]] = []

    def swap(m: re.Match[str]) -> str:
        found.append(m)
        return f"__aigw_var_{len(found) - 1}__"

    return _VAR.sub(swap, text), found


def interpolate(
    value: Any,
    env: dict[str, str],
    path: str = "",
    tokens: list[re.Match[str]] | None = None,
    unset: dict[str, str] | None = None,
) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string value (not in keys). A variable
    that is not set raises, or, given `unset`, is noted there (path -> problem) and read as
    empty, so every other problem can be reported with it."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, env, f"{path}.{k}" if path else str(k), tokens, unset)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}.{i}", tokens, unset) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        problem = (
            f"config error: {path}: environment variable {name} is not set "
            f"(write ${{{name}:-}} to make it optional)"
        )
        if unset is None:
            raise ConfigError(problem)
        unset[path] = problem
        return ""

    if tokens is not None and "__aigw_var_" in value:
        value = _TOKEN.sub(lambda t: sub(tokens[int(t.group(1))]), value)
    if "${" in value:
        value = _VAR.sub(sub, value)
    return value


def from_dict(
    raw: dict[str, Any],
    env: dict[str, str] | None = None,
    tokens: list[re.Match[str]] | None = None,
) -> Config:
    env = dict(os.environ) if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config error: the file must hold a mapping of sections at its top")
    unset: dict[str, str] = {}
    data = interpolate(raw, env, tokens=tokens, unset=unset)
    try:
        cfg = Config.model_validate(data, context={"env": env})
    except ValidationError as e:
        # Validation may stop before the cross-references: they are checked on the raw file.
        found = with_references(config_problems(e, data, Config), data)
        # A value left empty by an unset variable is reported as that, not twice.
        rest = [p for p in found if p.split(": ")[1] not in unset]
        raise ConfigError("\n".join([*unset.values(), *rest])) from None
    if unset:
        raise ConfigError("\n".join(unset.values()))
    return cfg


def load(path: str | Path | None, env: dict[str, str] | None = None) -> Config:
    """Load a config file, or the embedded defaults (providers from the environment) when
    `path` is None."""
    env = dict(os.environ) if env is None else env
    if path is None:
        return defaults_from_env(env)
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"config error: cannot read {p}: {e.strerror}") from None
    text, tokens = protect_vars(text)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config error: {p}: invalid YAML{where}: {problem}") from None
    return from_dict(raw or {}, env, tokens)


# Environment variables that turn a provider on when there is no config file (from the specs).
ENV_PROVIDERS = {s.type: (s.key_env, s.base_url_env) for s in registry.SPECS.values() if s.key_env}


def no_provider_hint() -> str:
    """How to configure a first provider: said at start-up and in a request's 404."""
    keys = [key_var for key_var, _ in ENV_PROVIDERS.values()]
    return (
        f"set {keys[0]} (or {', '.join(keys[1:3])}, ...: one per provider) before "
        "`aigw serve`, or pass --config "
        "with a `providers:` section (see config.example.yaml); to try aigw without a "
        "provider key, run `aigw mock` and point OPENAI_BASE_URL at it (README)"
    )


def defaults_from_env(env: dict[str, str]) -> Config:
    """Embedded defaults: every provider whose key is in the environment, with its usual
    models; any other upstream model is reachable as `<provider>/<model>`."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for spec in registry.SPECS.values():
        if spec.from_env is not None:  # enabled by more than one key variable
            p = spec.from_env(env)
            if p is None:
                continue
        else:
            key = env.get(spec.key_env) if spec.key_env else None
            base_url = env.get(spec.base_url_env) if spec.base_url_env else None
            if not key or not (base_url or spec.default_base_url):
                continue
            p = {"api_key": key}
            if base_url:
                p["base_url"] = base_url
            for setting, var in spec.env_settings.items():
                if env.get(var):
                    p[setting] = env[var]
        providers[spec.type] = p
        for m in spec.default_models:
            models.setdefault(m, {"provider": spec.type})
    for spec in registry.SPECS.values():  # providers enabled by more than one variable
        settings = spec.from_env(env) if spec.from_env is not None else None
        if settings is not None:
            providers[spec.type] = settings
            for m in spec.default_models:
                models.setdefault(m, {"provider": spec.type})
    raw: dict[str, Any] = {"providers": providers, "models": models}
    if env.get("AIGW_HOST"):
        raw.setdefault("server", {})["host"] = env["AIGW_HOST"]
    if env.get("AIGW_PORT"):
        raw.setdefault("server", {})["port"] = env["AIGW_PORT"]
    if env.get("AIGW_HASH_SECRET"):  # the same name packaging/ and config.example.yaml use
        raw["auth"] = {"hash_secret": env["AIGW_HASH_SECRET"]}
    return from_dict(raw, env)
