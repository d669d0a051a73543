"""What every provider adapter shares, written once: SSE parsing (`sse`), error bodies,
Retry-After and the gateway's error kinds (`errors`), OpenAI answer and chunk building
(`chunks`), OpenAI request messages read alike by every translation (`messages`)."""
