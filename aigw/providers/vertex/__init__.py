"""Vertex AI: Gemini's content format (providers/gemini) on Google Cloud's regional
endpoint, with OAuth access tokens from google-auth (token.py)."""

from aigw.providers.vertex.adapter import adapter

__all__ = ["adapter"]
