"""`providers.<name>` settings of an Azure OpenAI resource."""

from __future__ import annotations

from pydantic import Field, field_validator

from aigw.providers.settings import ProviderConfig


class AzureSettings(ProviderConfig):
    # https://RESOURCE.openai.azure.com (a trailing /openai or /openai/v1 is dropped)
    base_url: str = Field("", validate_default=True)
    # Set: the /openai/deployments/{deployment}/...?api-version= style; unset: /openai/v1/...
    api_version: str | None = None
    # An Entra ID access token (sent as a bearer token instead of the api-key header);
    # tokens expire after about an hour: keep it fresh through the environment variable.
    ad_token: str | None = Field(default=None, repr=False)

    @field_validator("base_url")
    @classmethod
    def _resource(cls, v: str) -> str:
        v = v.rstrip("/")
        for tail in ("/openai/v1", "/openai"):
            v = v.removesuffix(tail)
        if not v:
            raise ValueError(
                "required for Azure: the resource's endpoint, https://RESOURCE.openai.azure.com"
            )
        return v

    @property
    def stream_usage(self) -> bool:
        """`stream_options` exists from API version 2024-09-01 (and in the v1 API)."""
        return self.api_version is None or self.api_version[:10] >= "2024-09-01"
