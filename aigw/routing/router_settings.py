"""The `routers:` config section: cost routers, each a strong and a cheap model and a threshold.

    routers:
      auto:                      # `model: "auto"` uses the router named auto
        strong: gpt-4o
        cheap: gpt-4o-mini
        scorer: learned          # learned (default) | heuristic
        threshold: 0.56          # optional: score >= threshold -> strong; default per scorer

A request whose model is a router's name (or a model with `router: <name>`) is sent to the
strong or the cheap model by the prompt's score (see aigw/routing/cost_router.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo

from aigw.sections import Section


class RouterConfig(Section):
    strong: str  # a model name from `models:`
    cheap: str
    scorer: Literal["learned", "heuristic"] = "learned"
    # Score >= threshold goes to the strong model. None: the scorer's own default (the
    # learned model's file carries the one that kept 95% of strong quality in training).
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    model_file: str | None = None  # learned: a router file of your own (scripts/train_router.py)


def _check(routers: dict[str, RouterConfig], info: ValidationInfo) -> dict[str, RouterConfig]:
    """Routers point at configured models, and model `router:` fields at configured routers."""
    models: dict[str, Any] | None = info.data.get("models")
    if models is None:  # `models:` itself is invalid; that error is the one reported
        return routers
    known = ", ".join(models) or "none"
    for name, r in routers.items():
        if name in models:
            raise ValueError(
                f"routers.{name}: the name is also a model in `models:`; give the router a "
                "name of its own"
            )
        for role in ("strong", "cheap"):
            target = getattr(r, role)
            if target not in models:
                raise ValueError(
                    f"routers.{name}.{role}: unknown model {target!r} (configured: {known})"
                )
    for mname, m in models.items():
        ref = getattr(m, "router", None)
        if ref is not None and ref not in routers:
            raise ValueError(
                f"models.{mname}.router: unknown router {ref!r} "
                f"(configured: {', '.join(routers) or 'none'})"
            )
    return routers


RoutersConfig = Annotated[dict[str, RouterConfig], AfterValidator(_check)]
