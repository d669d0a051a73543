"""`database:` config: a URL (`sqlite:///path`, `postgresql://user:pw@host/db`) or the
host/port/name/user/password form. Without it, an SQLite file under the data directory."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from pydantic import Field, model_validator

from aigw.sections import Duration, Section


class DatabaseConfig(Section):
    url: str | None = Field(default=None, repr=False)
    host: str | None = None
    port: int = Field(5432, ge=1, le=65535)
    name: str = "aigw"
    user: str | None = None
    password: str | None = Field(default=None, repr=False)
    pool_min: int = Field(2, ge=0)
    pool_max: int = Field(10, ge=1)
    connect_timeout: Duration = 5.0
    command_timeout: Duration = 10.0

    @model_validator(mode="before")
    @classmethod
    def _url_form(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"url": v}
        return v

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        if self.url and not (
            self.url.startswith("sqlite://")
            or self.url.startswith("postgresql://")
            or self.url.startswith("postgres://")
        ):
            raise ValueError(
                "database.url: must start with sqlite:/// or postgresql:// "
                f"(got {self.url.split('://')[0]!r})"
            )
        return self

    def dialect(self) -> str:
        if self.url:
            return "sqlite" if self.url.startswith("sqlite://") else "postgres"
        return "postgres" if self.host else "sqlite"

    def sqlite_path(self, data_dir: str) -> str:
        """`sqlite:///rel/path`, `sqlite:////abs/path`, or `<data_dir>/aigw.db`."""
        if self.url and self.url.startswith("sqlite://"):
            path = self.url[len("sqlite://") :]
            path = path[1:] if path.startswith("/") else path
            return path or os.path.join(data_dir, "aigw.db")
        return os.path.join(data_dir, "aigw.db")

    def postgres_dsn(self) -> str:
        if self.url:
            return self.url
        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"postgresql://{auth}{self.host}:{self.port}/{quote(self.name, safe='')}"

    def describe(self, data_dir: str) -> str:
        """Where the data is, without the password (for logs and CLI output)."""
        if self.dialect() == "sqlite":
            return "sqlite:///" + self.sqlite_path(data_dir)
        dsn = self.postgres_dsn()
        head, _, tail = dsn.rpartition("@")
        if head:
            scheme, _, userinfo = head.partition("://")
            return f"{scheme}://{userinfo.split(':')[0]}@{tail}"
        return dsn
