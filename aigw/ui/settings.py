"""`ui:` config: the admin console served at /ui."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aigw.sections import Duration, Section


class UIConfig(Section):
    enabled: bool = True  # false: /ui and its sign-in API answer 404
    session_ttl: Duration = Field(8 * 3600.0, gt=0)  # a session ends this long after sign-in
    idle_timeout: Duration = Field(3600.0, gt=0)  # ...or after this long without a request
    # Failed sign-ins per client address per window before further tries get 429.
    max_failed_logins: int = Field(5, ge=1)
    failed_login_window: Duration = Field(300.0, gt=0)
    # The session cookie's Secure flag: "auto" sets it when the request came over TLS
    # (directly or per X-Forwarded-Proto: https from a proxy in front).
    secure_cookie: Literal["auto", "always", "never"] = "auto"
