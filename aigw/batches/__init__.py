"""Batch jobs: OpenAI's Files and Batch APIs, each line run through the gateway's own
pipeline at the lowest priority, with progress kept line by line in the database
(docs/BATCHES.md)."""
