"""Cache building blocks: keys, guard, vector index, in-process store, replay framing."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from aigw.cache.entry import Entry, json_entry, stream_entry
from aigw.cache.guard import agree, disagreement, features
from aigw.cache.keys import exact_key, semantic_scope, tenant_scope
from aigw.cache.replay import chunks_to_completion, completion_to_chunks
from aigw.cache.semantic import SemanticCache, SemanticIndex
from aigw.cache.settings import CacheConfig
from aigw.cache.store_memory import MemoryStore
from aigw.embedding import bundled_model_path, embed, load_embedder

BASE = {
    "model": "gpt-test",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "How do I convert 5 km to miles?"},
    ],
    "temperature": 0,
}

# One change per keyed field: each must give its own exact entry.
VARIANTS = {
    "message": lambda b: b["messages"][1].update(content="How do I convert 6 km to miles?"),
    "system prompt": lambda b: b["messages"][0].update(content="You are verbose."),
    "role": lambda b: b["messages"][0].update(role="developer"),
    "earlier turn": lambda b: b["messages"].insert(1, {"role": "user", "content": "hi"}),
    "tools": lambda b: b.update(
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]
    ),
    "tool_choice": lambda b: b.update(tool_choice="none"),
    "response_format": lambda b: b.update(response_format={"type": "json_object"}),
    "temperature": lambda b: b.update(temperature=0.5),
    "top_p": lambda b: b.update(top_p=0.9),
    "seed": lambda b: b.update(seed=7),
    "max_tokens": lambda b: b.update(max_tokens=5),
    "max_completion_tokens": lambda b: b.update(max_completion_tokens=5),
    "stop": lambda b: b.update(stop=["\n"]),
    "n": lambda b: b.update(n=2),
    "logit_bias": lambda b: b.update(logit_bias={"50256": -100}),
    "presence_penalty": lambda b: b.update(presence_penalty=1),
    "provider extra": lambda b: b.update(top_k=40),
    "reasoning_effort": lambda b: b.update(reasoning_effort="high"),
}


def test_every_keyed_field_changes_the_exact_key() -> None:
    base = exact_key("chat", "gpt-test", BASE, "org:a")
    seen = {base}
    for name, change in VARIANTS.items():
        body = copy.deepcopy(BASE)
        change(body)
        k = exact_key("chat", "gpt-test", body, "org:a")
        assert k not in seen, f"{name} did not change the key"
        seen.add(k)
    assert exact_key("chat", "other-model", BASE, "org:a") != base
    assert exact_key("embeddings", "gpt-test", BASE, "org:a") != base


def test_transport_fields_and_key_order_do_not_change_the_key() -> None:
    base = exact_key("chat", "gpt-test", BASE, "org:a")
    streamed = {**BASE, "stream": True, "stream_options": {"include_usage": True}, "user": "u1"}
    reordered = dict(reversed(list(BASE.items())))
    assert exact_key("chat", "gpt-test", streamed, "org:a") == base
    assert exact_key("chat", "gpt-test", reordered, "org:a") == base


def test_two_orgs_never_share_a_key_unless_scope_is_global() -> None:
    a = exact_key("chat", "m", BASE, tenant_scope("org", "a"))
    b = exact_key("chat", "m", BASE, tenant_scope("org", "b"))
    assert a != b
    assert tenant_scope("global", "a") == tenant_scope("global", "b")
    sa = semantic_scope("m", BASE, tenant_scope("org", "a"), 2000)
    sb = semantic_scope("m", BASE, tenant_scope("org", "b"), 2000)
    assert sa and sb and sa[0] != sb[0]


def test_semantic_scope_covers_everything_but_the_last_user_message() -> None:
    s = semantic_scope("m", BASE, "org:a", 2000)
    assert s is not None and s[1] == "How do I convert 5 km to miles?"
    para = copy.deepcopy(BASE)
    para["messages"][1]["content"] = "how do i convert 5 km to miles"
    assert semantic_scope("m", para, "org:a", 2000)[0] == s[0]  # type: ignore[index]
    for name in ("system prompt", "earlier turn", "temperature", "seed", "max_tokens", "stop"):
        body = copy.deepcopy(BASE)
        VARIANTS[name](body)
        other = semantic_scope("m", body, "org:a", 2000)
        assert other is not None and other[0] != s[0], name
    # Never semantic: tools, several choices, images, last message not from the user, empty.
    for bad in (
        {**BASE, "tools": [{"type": "function", "function": {"name": "f"}}]},
        {**BASE, "n": 3},
        {**BASE, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        {**BASE, "messages": [*BASE["messages"], {"role": "assistant", "content": "x"}]},
        {**BASE, "messages": [{"role": "user", "content": "   "}]},
    ):
        assert semantic_scope("m", bad, "org:a", 2000) is None
    assert semantic_scope("m", BASE, "org:a", 10) is None  # longer than max_chars


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("How do I convert 5 km to miles?", "How do I convert 5 miles to km?", "word_order"),
        ("How do I convert 5 km to miles?", "How do I convert 6 km to miles?", "numbers"),
        ("Convert five km to miles", "Convert seven km to miles", "numbers"),
        ("How do I turn on the lights?", "How do I turn off the lights?", "polar_word"),
        ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?", "negation"),
        ("Why can't I sleep?", "Why can I sleep?", "negation"),
        ('Translate "good morning" to French', 'Translate "good night" to French', "quoted"),
        ("What is the capital of France?", "What is the capital of Germany?", "name"),
        ("Where was Mike Shinoda born?", "When was Mike Shinoda born?", "question_word"),
    ],
)
def test_guard_refuses_the_traps(a: str, b: str, reason: str) -> None:
    assert disagreement(features(a), features(b)) == reason
    assert disagreement(features(b), features(a)) == reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I convert 5 km to miles?", "how do i convert 5 km to miles"),
        ("What is the capital of France?", "What's the capital of France?"),
        ("Is 1,000 more than 999?", "is 1000 more than 999"),
        ("Convert five km to miles", "Convert 5 km to miles"),
        ("Explain Python's GIL", "explain python's GIL please"),
    ],
)
def test_guard_lets_paraphrases_through(a: str, b: str) -> None:
    assert agree(a, b)


def test_embedding_is_bundled_offline_normalised_and_zero_for_unknown_text() -> None:
    assert bundled_model_path().is_dir()
    assert (bundled_model_path() / "LICENSE").read_text().startswith("MIT License")
    v = embed(["5 km to miles", "5 miles to km", "", "🙂🙂🙂"])
    assert v.dtype == np.float32 and v.shape == (4, 256)
    assert abs(float(np.linalg.norm(v[0])) - 1.0) < 1e-4
    assert float(v[0] @ v[1]) > 0.999  # why the guard checks word order
    assert not v[2].any() and not v[3].any()
    assert load_embedder() is load_embedder()
    with pytest.raises(FileNotFoundError):
        load_embedder("/nonexistent/model/dir")  # a bad local path never becomes a hub id


def test_local_model_loads_as_model2vec_loads_it_without_the_hub_client() -> None:
    """The bundled model is read directly (no huggingface_hub import: ~38 MB of RSS); its
    vectors must be exactly model2vec's own loader's, or the tuned threshold would drift."""
    import subprocess
    import sys

    from model2vec import StaticModel

    from aigw.embedding import Embedder

    texts = ["What is the capital of France?", "", "Ünïcödé 12345 " * 200, "hello world"]
    ours = load_embedder().embed(texts)
    theirs = Embedder(StaticModel.from_pretrained(str(bundled_model_path())), "m").embed(texts)
    assert np.array_equal(ours, theirs)
    code = (
        "import sys; from aigw.embedding import load_embedder; load_embedder().embed(['x']);"
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _unit(seed: int, dim: int = 256) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("hnsw_min", [1000, 8])
def test_index_search_scope_expiry_and_removal(hnsw_min: int) -> None:
    now = [1000.0]
    cfg = CacheConfig(semantic={"hnsw_min_entries": hnsw_min})
    idx = SemanticIndex(256, cfg, clock=lambda: now[0])
    for i in range(20):
        assert idx.add(f"k{i}", "scope-a", _unit(i), f"text {i}", 2000.0)
    idx.add("other", "scope-b", _unit(3), "text 3", 2000.0)
    assert not idx.add("zero", "scope-a", np.zeros(256, np.float32), "", 2000.0)
    assert len(idx) == 21
    found = idx.search("scope-a", _unit(3), "text 3", 4, 0.99, guard=True)
    assert [c.key for c in found] == ["k3"] and found[0].similarity > 0.99
    assert idx.search("scope-a", np.zeros(256, np.float32), "", 4, 0.0, True) == []
    assert idx.search("scope-c", _unit(3), "text 3", 4, 0.0, True) == []
    idx.remove("k3")
    assert idx.search("scope-a", _unit(3), "text 3", 4, 0.99, True) == []
    assert [c.key for c in idx.search("scope-b", _unit(3), "text 3", 4, 0.99, True)] == ["other"]
    now[0] = 2001.0  # everything expired
    assert idx.search("scope-b", _unit(3), "text 3", 4, 0.99, True) == []
    idx.sweep()
    assert len(idx) == 0


def test_index_size_is_capped() -> None:
    idx = SemanticIndex(256, CacheConfig(max_entries=5))
    for i in range(12):
        idx.add(f"k{i}", "s", _unit(i), "t", 1e12)
    assert len(idx) == 5 and "k0" not in idx and "k11" in idx


async def test_memory_store_lru_bytes_ttl_and_index_in_step() -> None:
    now = [0.0]
    idx = SemanticIndex(256, CacheConfig(), clock=lambda: now[0])
    store = MemoryStore(max_entries=3, max_bytes=10_000, index=idx, clock=lambda: now[0])
    for i in range(3):
        await store.put(f"k{i}", json_entry({"i": i}, None, 100.0), ("s", f"t{i}", _unit(i)))
    assert await store.get("k0") is not None  # k0 is now the most recently used
    await store.put("k3", json_entry({"i": 3}, None, 100.0), ("s", "t3", _unit(3)))
    assert await store.get("k1") is None and "k1" not in idx  # evicted with its vector
    assert (await store.get("k0")).body == {"i": 0}  # type: ignore[union-attr]
    await store.put("big", json_entry({"x": "y" * 6000}, None, 100.0))
    await store.put("big2", json_entry({"x": "z" * 6000}, None, 100.0))
    assert store.bytes <= 10_000  # the byte bound evicted the least recently used
    assert await store.get("big") is None and await store.get("big2") is not None
    await store.put("huge", json_entry({"x": "y" * 20000}, None, 100.0))
    assert await store.get("huge") is None  # larger than the whole store
    now[0] = 100.0
    assert await store.get("big2") is None  # expired


CHUNKS = [
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    },
    {
        "id": "c1",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hel"}}],
    },
    {"id": "c1", "created": 5, "model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}}]},
    {
        "id": "c1",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    },
    {
        "id": "c1",
        "created": 5,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    },
]


def test_replay_between_stream_and_json() -> None:
    body = chunks_to_completion(CHUNKS)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 5
    again = chunks_to_completion(completion_to_chunks(body))
    assert again["choices"] == body["choices"] and again["usage"] == body["usage"]
    tool_chunks = [
        {"id": "t", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {
            "id": "t",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "function": {"name": "f", "arguments": '{"a"'},
                            }
                        ]
                    },
                }
            ],
        },
        {
            "id": "t",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]},
                }
            ],
        },
        {"id": "t", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    call = chunks_to_completion(tool_chunks)["choices"][0]["message"]["tool_calls"][0]
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a":1}'},
    }


def test_entry_wire_format_round_trips() -> None:
    j = json_entry({"a": 1, "usage": {"prompt_tokens": 2, "completion_tokens": 3}}, None, 123.5)
    back = Entry.decode(j.encode())
    assert back.body == j.body and back.expires == 123.5 and back.usage().completion_tokens == 3  # type: ignore[union-attr]
    _, data = stream_entry(CHUNKS, 50.0)
    back = Entry.decode(data)
    assert back.chunks == CHUNKS and back.usage().total_tokens == 5  # type: ignore[union-attr]


def test_semantic_cache_serves_paraphrase_and_refuses_traps() -> None:
    sc = SemanticCache(CacheConfig())
    stored = "How do I convert 5 km to miles?"
    sc.index.add("k", "scope", sc.embed_now(stored), stored, 1e12)

    def served(text: str, scope: str = "scope") -> bool:
        return bool(sc.lookup(scope, sc.embed_now(text), text))

    assert served("how do i convert 5 km to miles")
    assert not served("How do I convert 5 miles to km?")  # cosine 1.0, word order differs
    assert not served("How do I convert 6 km to miles?")
    assert not served("How do I not convert 5 km to miles?")
    assert not served("")
    assert not served("🙂🙂🙂")
    assert not served("how do i convert 5 km to miles", scope="other-scope")


def test_bundled_model_is_found_inside_a_pyinstaller_bundle(tmp_path, monkeypatch) -> None:
    import sys

    frozen = tmp_path / "aigw" / "models" / "potion-base-8M-int8"
    frozen.mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert bundled_model_path() == frozen
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "elsewhere"), raising=False)
    assert bundled_model_path().is_dir() and bundled_model_path() != frozen


def test_bundled_model_loads_without_network() -> None:
    """A fresh process with every proxy pointing at a closed port and HF_HUB_OFFLINE unset:
    loading and embedding must still work (nothing goes to the hub)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    dead = "http://127.0.0.1:9"
    env.update(HTTP_PROXY=dead, HTTPS_PROXY=dead, ALL_PROXY=dead, NO_PROXY="")
    env["HF_HOME"] = "/nonexistent-hf-home"  # no cached hub snapshot to fall back on
    code = (
        "from aigw.embedding import embed; import os; v = embed(['5 km to miles']); "
        "assert v.shape == (1, 256) and v.any(); print(os.environ['HF_HUB_OFFLINE'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
