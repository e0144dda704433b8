"""The type of every database id the API takes (path, query or body): a positive PostgreSQL bigint.

Declared once so that the OpenAPI says what validation enforces, and an id beyond bigint is a 422
rather than a database error."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Exclusive bounds: 2**63 is exact as the float a JSON schema number becomes, 2**63 - 1 is not.
Id = Annotated[int, Field(gt=0, lt=2**63, json_schema_extra={"format": "int64"})]
