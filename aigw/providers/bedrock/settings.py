"""`providers.<name>` settings of a Bedrock provider, and the environment that enables one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from aigw.providers.settings import ProviderConfig

BASE_URL = "https://bedrock-runtime.{region}.amazonaws.com"


def region_from(env: Mapping[str, str]) -> str | None:
    """AWS's own variables, in the SDKs' order."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


class BedrockSettings(ProviderConfig):
    # The AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION); it names the endpoint
    # and is part of every signature.
    region: str | None = Field(default=None, validate_default=True)
    # A profile in the shared AWS files (default: AWS_PROFILE, else the chain's default).
    profile: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str:
        v = v or region_from(os.environ)
        if not v:
            raise ValueError("missing (set it, or AWS_REGION in the environment)")
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> BedrockSettings:
        if not self.base_url:
            self.base_url = BASE_URL.format(region=self.region)
        return self


def from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """`aigw serve` without a config file: Bedrock is on when the environment holds AWS
    credentials (keys or a profile) and a region; the credentials themselves are read by
    botocore's chain at start-up, never copied into the config."""
    region = region_from(env)
    has_keys = bool(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"))
    if not region or not (has_keys or env.get("AWS_PROFILE")):
        return None
    out: dict[str, Any] = {"type": "bedrock", "region": region}
    if env.get("AWS_BEDROCK_BASE_URL"):
        out["base_url"] = env["AWS_BEDROCK_BASE_URL"]
    return out
