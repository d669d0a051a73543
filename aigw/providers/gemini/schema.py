"""OpenAI's JSON Schema (tool parameters, `response_format`) -> Gemini's `Schema`, the OpenAPI
3.0 subset both the Gemini API and Vertex AI accept.

Gemini refuses what it does not know (`additionalProperties`, `$ref`, `const`, `oneOf`, type
lists, most string formats) with a 400, so this keeps what it understands and rewrites the
rest: `$ref` is inlined from `$defs`/`definitions` (a recursive one cannot be, and is a clear
400), `["string", "null"]` and `anyOf [..., {"type": "null"}]` become `nullable`, `const` a
one-value enum, `oneOf` an `anyOf`, a one-schema `allOf` that schema; non-string enums,
which Gemini only takes for strings, move into the description. Types are upper-case, as
Gemini's enum names are.
"""

from __future__ import annotations

from typing import Any

from aigw.types import bad_request

# The keys of Gemini's Schema (ai.google.dev/api/caching#Schema), in JSON Schema's spelling
# where the two agree.
KEPT = (
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
)
FORMATS = {
    "STRING": ("enum", "date-time"),
    "NUMBER": ("float", "double"),
    "INTEGER": ("int32", "int64"),
}
TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
MAX_NODES = 5000  # a schema (with its $refs inlined) is bounded: it is the client's input
MAX_DEPTH = 48


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Converter:
    def __init__(self, root: dict[str, Any], param: str) -> None:
        self.defs: dict[str, Any] = {}
        for key in ("$defs", "definitions"):
            if isinstance(root.get(key), dict):
                self.defs.update({f"#/{key}/{k}": v for k, v in root[key].items()})
        self.param = param
        self.nodes = 0

    def refused(self, why: str) -> Exception:
        return bad_request(
            f"{self.param}: {why} (Gemini's schema subset cannot express it)", self.param
        )

    def convert(self, s: Any, refs: tuple[str, ...] = (), depth: int = 0) -> dict[str, Any]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.refused(f"the schema is larger than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise self.refused(f"the schema is nested deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if not isinstance(s, dict):
            return {}
        ref = s.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                raise self.refused(f"recursive $ref {ref!r}")
            target = self.defs.get(ref)
            if target is None:
                raise self.refused(f"unresolvable $ref {ref!r} (only #/$defs/... is supported)")
            if not isinstance(target, dict):
                raise self.refused(f"$ref {ref!r} does not name a schema")
            merged = {**target, **{k: v for k, v in s.items() if k != "$ref"}}
            return self.convert(merged, (*refs, ref), d)

        out: dict[str, Any] = {}
        variants = s.get("anyOf") or s.get("oneOf")
        all_of = s.get("allOf")
        if isinstance(all_of, list) and all_of:
            if len(all_of) == 1:
                return self.convert(
                    {**_obj(all_of[0]), **{k: v for k, v in s.items() if k != "allOf"}},
                    refs,
                    d,
                )
            merged = merge_all_of([self.convert(x, refs, d) for x in all_of])
            out.update(merged)

        types = s.get("type")
        nullable = False
        if isinstance(types, list):
            nullable = "null" in types
            types = [t for t in types if t != "null"]
            if len(types) > 1:  # ["string", "integer"]: one variant each
                variants = [{**s, "type": t} for t in types]
                types = None
            else:
                types = types[0] if types else None
        if isinstance(variants, list) and variants:
            if any(isinstance(v, dict) and v.get("type") == "null" for v in variants):
                nullable = True
                variants = [
                    v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")
                ]
            converted = [self.convert(v, refs, d) for v in variants]
            if len(converted) == 1:
                out.update(converted[0])
            elif converted:
                out["anyOf"] = converted
        if isinstance(types, str) and types in TYPES:
            out["type"] = types.upper()

        for k in KEPT:
            if k in s and k not in out:
                out[k] = s[k]
        if (
            "examples" in s
            and "example" not in out
            and isinstance(s["examples"], list)
            and s["examples"]
        ):
            out["example"] = s["examples"][0]
        if "const" in s:
            s = {**s, "enum": [s["const"]]}
        enum = s.get("enum")
        if isinstance(enum, list) and enum:
            if all(isinstance(v, str) for v in enum) and out.get("type", "STRING") == "STRING":
                out["enum"] = list(enum)
                out.setdefault("type", "STRING")
                out["format"] = "enum"
            else:  # Gemini's enums are strings only: say the allowed values instead
                allowed = ", ".join(str(v) for v in enum)
                note = f"One of: {allowed}."
                out["description"] = (
                    f"{out['description']} {note}" if out.get("description") else note
                )
        fmt = s.get("format")
        if isinstance(fmt, str) and fmt in FORMATS.get(out.get("type", ""), ()):
            out.setdefault("format", fmt)

        props = s.get("properties")
        if isinstance(props, dict):
            out["properties"] = {str(k): self.convert(v, refs, d) for k, v in props.items()}
            out.setdefault("type", "OBJECT")
            required = s.get("required")
            if isinstance(required, list):
                kept = [r for r in required if isinstance(r, str) and r in props]
                if kept:
                    out["required"] = kept
        items = s.get("items")
        if isinstance(items, dict):
            out["items"] = self.convert(items, refs, d)
            out.setdefault("type", "ARRAY")
        elif isinstance(items, list) and items:  # tuple form: the first item's schema
            out["items"] = self.convert(items[0], refs, d)
            out.setdefault("type", "ARRAY")
        if out.get("type") == "ARRAY" and "items" not in out:
            out["items"] = {"type": "STRING"}  # Gemini requires items on arrays
        if nullable:
            out["nullable"] = True
        return out


def merge_all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """allOf of object schemas: their properties and required lists together."""
    out: dict[str, Any] = {}
    for p in parts:
        for k, v in p.items():
            if k == "properties":
                out.setdefault("properties", {}).update(v)
            elif k == "required":
                out["required"] = [
                    *out.get("required", []),
                    *[r for r in v if r not in out.get("required", [])],
                ]
            else:
                out.setdefault(k, v)
    return out


def to_gemini_schema(schema: Any, param: str) -> dict[str, Any]:
    """A JSON Schema -> Gemini's Schema (see the module's docstring); 400 for what cannot be
    expressed, naming `param`."""
    if not isinstance(schema, dict):
        raise bad_request(f"{param}: a JSON schema must be an object", param)
    return _Converter(schema, param).convert(schema)


def with_property_ordering(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini writes JSON object keys in `propertyOrdering` (alphabetical without it): the
    order the client's schema declares them, at every level."""
    out = dict(schema)
    props = out.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {k: with_property_ordering(v) for k, v in props.items()}
        out.setdefault("propertyOrdering", list(props))
    if isinstance(out.get("items"), dict):
        out["items"] = with_property_ordering(out["items"])
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [with_property_ordering(v) for v in out["anyOf"]]
    return out
