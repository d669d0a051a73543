"""The `rate_limiting:` section: shorthand, scopes, one-line errors, env-driven limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from aigw import config as configmod
from aigw.limits.stage import build


def test_shorthand_fills_the_key_scope_and_scopes_parse() -> None:
    cfg = configmod.from_dict(
        {
            "rate_limiting": {
                "requests_per_minute": 60,
                "key": {"tokens_per_minute": 1000},
                "org": {"token_budget": 5000, "budget_period": "30d"},
                "global": {"requests_per_hour": 10000},
            }
        }
    )
    s = cfg.rate_limiting
    assert (s.key.requests_per_minute, s.key.tokens_per_minute) == (60, 1000)
    assert s.org.budget_period == 30 * 86400 and s.global_.requests_per_hour == 10000
    stage = build(cfg)
    assert stage is not None
    assert [r.name for r in stage.default_rules["key"]] == ["rpm", "tpm"]
    assert [(r.name, r.limit, r.period) for r in stage.default_rules["org"]] == [
        ("budget", 5000, 30 * 86400.0)
    ]
    assert build(configmod.from_dict({"rate_limiting": {"enabled": False}})) is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"requests_per_minute": 0}, "rate_limiting.requests_per_minute: Input should be greater"),
        ({"on_redis_error": "maybe"}, "rate_limiting.on_redis_error: Input should be 'fail_open'"),
        ({"global": {"rpm": 3}}, "rate_limiting.global.rpm: unknown key"),
        ({"org": {"budget_period": "soon"}}, "rate_limiting.org.budget_period: invalid duration"),
    ],
)
def test_errors_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(configmod.ConfigError) as ei:
        configmod.from_dict({"rate_limiting": section})
    assert str(ei.value).startswith("config error: " + message)


def test_example_config_limits_come_from_the_environment() -> None:
    root = Path(__file__).resolve().parent.parent
    off = configmod.load(root / "config.example.yaml", env={})
    assert not off.rate_limiting.key.any() and not off.rate_limiting.redis_url
    on = configmod.load(
        root / "config.example.yaml", env={"AIGW_RPM": "600", "AIGW_CLUSTER_SIZE": "3"}
    )
    assert on.rate_limiting.key.requests_per_minute == 600
    assert on.rate_limiting.cluster_size == 3
