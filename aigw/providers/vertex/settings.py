"""`providers.<name>` settings of a Vertex AI provider (`type: vertex`)."""

from __future__ import annotations

import re

from pydantic import field_validator, model_validator

from aigw.providers.settings import ProviderConfig

_NAME = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,62}$")  # project ids (also domain:name) and locations


class VertexSettings(ProviderConfig):
    project: str  # the Google Cloud project id
    location: str = "us-central1"  # a region, or "global"
    # A service-account (or any google-auth) JSON file; without it, Application Default
    # Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server).
    credentials_file: str | None = None

    @field_validator("project", "location")
    @classmethod
    def _path_safe(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a Google Cloud project id or location")
        return v

    @model_validator(mode="after")
    def _regional_endpoint(self) -> VertexSettings:
        """The location's endpoint (the global one for `global`) unless base_url is given."""
        if not self.base_url:
            if self.location == "global":
                self.base_url = "https://aiplatform.googleapis.com"
            else:
                self.base_url = f"https://{self.location}-aiplatform.googleapis.com"
        return self
