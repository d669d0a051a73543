"""Google's content format (Gemini API and Vertex AI): request.py builds a
`GenerateContentRequest`, response.py reads answers and SSE streams, schema.py cuts JSON
Schemas down to Gemini's subset, ids.py makes tool-call ids, errors.py maps Google's errors,
embeddings.py both embedding APIs; adapter.py is the Gemini API provider."""

from aigw.providers.gemini.adapter import adapter

__all__ = ["adapter"]
