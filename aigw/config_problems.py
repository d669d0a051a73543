"""Config problems as the user can act on them: every one at once, each at the key path as
written in the file (the `models:` short forms have no `deployments.N`), an unknown key with
the closest valid one, and the references between sections checked even when validation
stopped earlier. `aigw.config` raises them; `aigw config check` prints them."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import ValidationError

from aigw.sections import Section


def did_you_mean(key: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(key, choices, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def references(providers: list[str], models: dict[str, tuple[list[Any], list[Any]]]) -> list[str]:
    """What `models:` names that does not exist: each model's deployment providers and its
    fallbacks (model -> (providers of its deployments, fallbacks))."""
    problems = []
    for mname, (deployed, fallbacks) in models.items():
        if not deployed:
            problems.append(f"models.{mname}: needs at least one deployment")
        for i, prov in enumerate(deployed):
            if prov not in providers:
                problems.append(
                    f"models.{mname}.deployments.{i}.provider: unknown provider "
                    f"{prov!r} (configured: {', '.join(providers) or 'none'})"
                )
        for fb in fallbacks:
            if fb not in models:
                problems.append(f"models.{mname}.fallbacks: unknown model {fb!r}")
    return problems


def raw_references(data: Any) -> list[str]:
    """`references` of a file that failed validation elsewhere, read from its raw mapping
    (short forms included), so those problems are reported with the others, not after."""
    providers, models = data.get("providers") or {}, data.get("models") or {}
    if not isinstance(providers, dict) or not isinstance(models, dict):
        return []
    shaped: dict[str, tuple[list[Any], list[Any]]] = {}
    for name, m in models.items():
        deps: Any = m
        fallbacks: Any = []
        if isinstance(m, dict):
            deps = m.get("deployments", [m] if "provider" in m else [])
            fallbacks = m.get("fallbacks") or []
        if not isinstance(deps, list) or not isinstance(fallbacks, list):
            continue
        if not all(isinstance(d, dict) and isinstance(d.get("provider"), str) for d in deps):
            continue  # the section's own validation says what is wrong
        shaped[str(name)] = ([d["provider"] for d in deps], fallbacks)
    return references([str(p) for p in providers], shaped)


def written_path(path: list[Any], raw: Any) -> str:
    """A key path as the user wrote it. The model short forms (`m: {provider: p}` and
    `m: [{provider: p}, ...]`) have no `deployments.N` in the file, so an error inside one
    names `models.m.weight`, not a `models.m.deployments.0.weight` nobody wrote."""
    out: list[str] = []
    node = raw
    skip_index = False
    for part in path:
        if isinstance(node, list) and str(part).isdigit():
            part = int(part)
        if skip_index and str(part).isdigit():
            skip_index = False
            continue
        skip_index = False
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        elif part == "deployments" and isinstance(node, (dict, list)):
            skip_index = isinstance(node, dict)  # `{provider: p}`: one deployment, no index
            continue
        elif not isinstance(node, (dict, list)):
            break  # a scalar short form (`database: sqlite:///...`): the key the user wrote
        else:
            node = None  # a key that is missing, or unknown: named, and nothing below it
        out.append(str(part))
    return ".".join(out)


def fields_at(root: type[Section], path: tuple[Any, ...]) -> list[str]:
    """The keys a section accepts at a pydantic error location (for "did you mean")."""

    def unwrap(t: Any) -> Any:
        while True:
            origin = typing.get_origin(t)
            if origin is typing.Annotated:
                t = typing.get_args(t)[0]
            elif origin in (typing.Union, types.UnionType):
                t = next((a for a in typing.get_args(t) if a is not type(None)), t)
                if typing.get_origin(t) in (typing.Union, types.UnionType):
                    return t
            else:
                return t

    t: Any = root
    for part in path:
        t = unwrap(t)
        if isinstance(t, type) and issubclass(t, Section):
            field = t.model_fields.get(str(part))
            if field is None:
                return []
            t = field.annotation
        elif typing.get_origin(t) is dict:
            t = typing.get_args(t)[1]
        elif typing.get_origin(t) is list:
            t = typing.get_args(t)[0]
        else:
            return []
    t = unwrap(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, Section) else []


_PATH_MSG = re.compile(r"^([A-Za-z0-9_.\-/]+\.[A-Za-z0-9_\-/]+|[a-z_]+): ")


def config_problems(e: ValidationError, raw: Any, root: type[Section]) -> list[str]:
    """Every problem of a validation, one `config error: <path>: <what>` line each, with the
    path as written and, for an unknown key, the closest valid one."""
    lines: list[str] = []
    for err in e.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(loc[-1]), fields_at(root, tuple(loc[:-1])))
        for one in msg.splitlines():
            # Validators of a whole section put the key path in their message.
            m = _PATH_MSG.match(one)
            if m and "." in m.group(1):
                where = written_path(m.group(1).split("."), raw)
                lines.append(f"config error: {where}: {one[m.end() :]}")
            elif loc:
                lines.append(f"config error: {written_path(loc, raw)}: {one}")
            else:
                lines.append(f"config error: {one}")
    return lines


def with_references(found: list[str], data: Any) -> list[str]:
    """`found` plus the reference problems of the raw file it does not hold yet."""
    out = list(found)
    for p in raw_references(data):
        where, what = p.split(": ", 1)
        line = f"config error: {written_path(where.split('.'), data)}: {what}"
        if line not in out:
            out.append(line)
    return out
