"""What every provider's settings have in common (`providers.<name>` in the config file).

A provider type with settings of its own (Anthropic's `api_version`, Azure's ...) subclasses
`ProviderConfig` in its own package and names the subclass in its spec; the config loader
validates each `providers.<name>` entry with its type's model, so an unknown or wrong key
is reported with its full path. A leaf module: provider packages import it without
importing `aigw.config`.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from aigw.sections import Duration, Section


class ProviderConfig(Section):
    name: str = ""  # filled from the key in `providers:`
    type: str = ""  # a registered provider type; defaults to the name when that is one
    api_key: str | None = Field(default=None, repr=False)
    base_url: str = ""
    timeout: Duration = 60.0  # read timeout: the longest wait for the next byte
    connect_timeout: Duration = 10.0
    max_connections: int = Field(1000, ge=1)
    # Idle keep-alive connections are closed after this long: keep it below the upstream's
    # own idle timeout (uvicorn, under vLLM, closes after 5 s) so a request never races the
    # server closing the connection it was sent on.
    keepalive: Duration = Field(30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list)  # extra names to list in /v1/models

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")
