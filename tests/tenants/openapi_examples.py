"""Minimal valid requests generated from the OpenAPI document, so that a test can call every endpoint
(including ones added later) with a body that passes validation and reaches the endpoint's own checks.

A field is filled from, in order: its `examples`/`example`, `const`, `enum`, the id map (fields named
like `node_id`), its format, a pattern candidate, or its type's smallest valid value. When a new
endpoint's body cannot be generated, give the offending field `examples=[...]` in its schema."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

NO_SUCH_ID = 2**53 - 1
PATTERN_CANDIDATES = (
    "https://example.org/matrix",
    "matrix-test",
    "mt1",
    "MT1",
    "#112233",
    "13800000009",
    "a",
    "1",
    "2026-01-01",
    "00:00",
    "matrix_test",
    "active",
    "zh-CN",
)


@dataclass
class Generator:
    spec: dict[str, Any]
    ids: dict[str, Any] = field(default_factory=dict)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 20:
            node: Any = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
            seen += 1
        return schema

    def value(self, schema: dict[str, Any], name: str = "") -> Any:
        schema = self.resolve(schema)
        if name in self.ids and self._accepts_id(schema):
            return self.ids[name]
        if schema.get("examples"):
            return schema["examples"][0]
        if "example" in schema:
            return schema["example"]
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.resolve(s) for s in schema[key]]
                non_null = [s for s in options if s.get("type") != "null"] or options
                return self.value(non_null[0], name)
        if "allOf" in schema:
            return self.value(schema["allOf"][0], name)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.object(schema)
        if kind == "array":
            count = max(int(schema.get("minItems", 0)), 0)
            return [self.value(schema.get("items", {}), name) for _ in range(count)]
        if kind == "integer" and name.endswith("_id"):
            return NO_SUCH_ID  # an id with no object behind it, in any tenant
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "string" or not kind:
            return self.string(schema, name)
        return None

    def _accepts_id(self, schema: dict[str, Any]) -> bool:
        kinds = {self.resolve(s).get("type") for s in schema.get("anyOf", [schema])}
        formats = {self.resolve(s).get("format") for s in schema.get("anyOf", [schema])}
        return bool(kinds & {"integer", "string"}) or "uuid" in formats

    def string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "email":
            return "matrix@example.org"
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date-time":
            return "2026-01-01T00:00:00+00:00"
        if fmt == "date":
            return "2026-01-01"
        if fmt in ("uri", "url"):
            return "https://example.org/x"
        if fmt == "password" or "password" in name:
            return "matrix-password-2026"
        if fmt == "binary":
            return "x"
        if "pattern" in schema:
            for candidate in PATTERN_CANDIDATES:
                # JSON-schema patterns are unanchored unless they say otherwise.
                if re.search(schema["pattern"], candidate):
                    return candidate
        lo, hi = int(schema.get("minLength", 1)), int(schema.get("maxLength", 40))
        return ("matrix" * 10)[: max(lo, min(hi, 6))]

    def object(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self.resolve(schema)
        props: dict[str, Any] = schema.get("properties", {})
        # Required fields, plus optional ones that name a known object (so `node_id` is set when a body
        # may name a node instead of, say, creating one).
        wanted = [k for k in props if k in schema.get("required", []) or k in self.ids]
        return {k: self.value(props[k], k) for k in wanted}


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any]
    json: Any = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": self.params}
        if self.json is not None:
            out["json"] = self.json
        if self.data is not None:
            out["data"] = self.data
        if self.files is not None:
            out["files"] = self.files
        return out


def build_call(
    spec: dict[str, Any], path: str, method: str, ids: dict[str, Any], overrides: dict[str, Any] | None = None
) -> Call:
    """A minimal valid request for `method path`; `ids` fills id-like fields, `overrides` sets fields."""
    gen = Generator(spec, ids)
    operation = spec.get("paths", {}).get(path, {}).get(method.lower(), {})
    url = path
    params: dict[str, Any] = {}
    for param in operation.get("parameters", []):
        schema = param.get("schema", {})
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", str(gen.value(schema, param["name"])))
        elif param["in"] == "query" and (param.get("required") or param["name"] in (overrides or {})):
            params[param["name"]] = (overrides or {}).get(param["name"], gen.value(schema, param["name"]))
    for name in re.findall(r"{(\w+)}", url):  # a path not in the schema
        url = url.replace("{" + name + "}", str(ids.get(name, 1)))
    call = Call(method, url, params)
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = gen.value(content["application/json"].get("schema", {}))
        if isinstance(body, dict) and overrides:
            body |= {k: v for k, v in overrides.items() if k not in params}
        call.json = body if body is not None else {}
    elif "application/x-www-form-urlencoded" in content or "multipart/form-data" in content:
        media = "multipart/form-data" if "multipart/form-data" in content else "application/x-www-form-urlencoded"
        schema = gen.resolve(content[media].get("schema", {}))
        data: dict[str, Any] = {}
        files: dict[str, Any] = {}
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            prop = gen.resolve(props.get(key, {}))
            items = gen.resolve(prop.get("items", {})) if prop.get("type") == "array" else prop
            if items.get("format") == "binary" or items.get("contentMediaType"):
                files[key] = ("matrix.txt", b"matrix", "text/plain")
            else:
                data[key] = gen.value(prop, key)
        call.data = data
        call.files = files or None
    elif method.upper() in ("POST", "PUT", "PATCH") and not content:
        call.json = None
    return call
