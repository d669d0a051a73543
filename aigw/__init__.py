"""aigw: an AI gateway speaking the OpenAI API in front of many providers."""

__version__ = "0.1.0"
