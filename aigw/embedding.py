"""Sentence embeddings for the semantic cache and the router: model2vec static embeddings.

The default model (minishlab's potion-base-8M, int8, MIT) ships inside the package under
aigw/models/ and is loaded by absolute path with HF_HUB_OFFLINE=1: model2vec treats a path
that does not exist as a Hugging Face hub id and would go to the network. A hub id can
still be named explicitly by users who have the network.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BUNDLED_MODEL = "potion-base-8M-int8"

_lock = threading.Lock()
_cache: dict[str, Embedder] = {}


_EMPTY_CARD = "Repo card metadata block was not found"


class _NoEmptyCardNotice(logging.Filter):
    """huggingface_hub warns on stderr, at every start, when a model's README has no YAML
    metadata block; for a local model that is no problem at all. Only that notice is
    dropped: every other record of the logger (real errors) passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_EMPTY_CARD)


logging.getLogger("huggingface_hub.repocard").addFilter(_NoEmptyCardNotice())


def bundled_model_path() -> Path:
    """Absolute path of the bundled model, inside a PyInstaller bundle or the installed package."""
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        frozen = Path(meipass) / "aigw" / "models" / BUNDLED_MODEL
        if frozen.is_dir():
            return frozen
    return Path(__file__).resolve().parent / "models" / BUNDLED_MODEL


def _looks_like_path(s: str) -> bool:
    return s.startswith(("/", "./", "../", "~")) or (os.sep in s and Path(s).exists())


class Embedder:
    """A loaded model2vec model; `embed` returns L2-normalised float32 rows (zeros stay zeros)."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name
        self.dim = int(model.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        # use_multiprocessing=False: the request path embeds one text at a time.
        vecs = np.asarray(self._model.encode(list(texts), use_multiprocessing=False), np.float32)
        if vecs.ndim == 1:
            vecs = vecs.reshape(1, -1)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        # A zero vector (empty / out-of-vocabulary text) stays zero so callers can refuse it.
        np.divide(vecs, norms, out=vecs, where=norms > 0)
        return vecs


def load_embedder(path_or_id: str | None = None) -> Embedder:
    """Load (once per process) the bundled model, a local model directory, or a hub id."""
    key = path_or_id or ""
    emb = _cache.get(key)
    if emb is not None:
        return emb
    with _lock:
        emb = _cache.get(key)
        if emb is not None:
            return emb
        if not path_or_id:
            target = str(bundled_model_path())
            local = True
        else:
            expanded = Path(path_or_id).expanduser()
            local = expanded.exists() or _looks_like_path(path_or_id)
            target = str(expanded.resolve()) if local else path_or_id
        if local:
            if not Path(target).is_dir():
                # Never let a mistyped local path turn into a hub download.
                raise FileNotFoundError(f"embedding model directory not found: {target}")
            os.environ["HF_HUB_OFFLINE"] = "1"
        model = _load_local(Path(target)) if local else _load_hub(target)
        emb = Embedder(model, path_or_id or BUNDLED_MODEL)
        _cache[key] = emb
        return emb


def _load_local(folder: Path) -> Any:
    """A model2vec model from its directory, as `StaticModel.from_pretrained` reads one, but
    without the hub client and model-card machinery that call imports: ~38 MB of resident
    memory (240 modules) a server never uses."""
    import json

    import safetensors
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    config = json.loads((folder / "config.json").read_text())
    tensors: dict[str, np.ndarray] = {}
    with safetensors.safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
        for name in f.keys():  # noqa: SIM118  (a safetensors handle, not a dict)
            tensors[name] = f.get_tensor(name)
    return StaticModel(
        vectors=tensors["embeddings"],
        tokenizer=Tokenizer.from_file(str(folder / "tokenizer.json")),
        config=config,
        normalize=bool(config.get("normalize", False)),
        weights=tensors.get("weights"),
        token_mapping=tensors.get("mapping"),
        max_length=config.get("max_length", 512),
    )


def _load_hub(repo_id: str) -> Any:
    from model2vec import StaticModel

    return StaticModel.from_pretrained(repo_id)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Embed with the bundled model: float32, shape (len(texts), dim), L2-normalised."""
    return load_embedder().embed(texts)
