"""OpenAI's Responses API (`/v1/responses`) in front of every provider.

`request.py` checks a request, `translate.py` maps Responses <-> chat completions (pure
functions: every provider is reached through chat), `native.py` maps an OpenAI upstream's
own Responses answer to chat for the pipeline, `events.py` writes the Responses stream
events, `turn.py` is one request's state, `store.py` the conversation store and `stage.py`
the pipeline stage that loads `previous_response_id` and stores the answer.
"""
