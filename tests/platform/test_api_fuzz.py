"""Schemathesis over the whole API, as a real user of each demo role.

Every operation of the app's own OpenAPI gets its coverage cases (boundaries, missing and wrong-typed
parameters, undeclared methods) and a bounded number of deterministic fuzzing cases, valid and invalid.
They are sent in process through the test's rolled-back session (nothing the fuzzer does is committed),
and every answer must: not be a 5xx, carry a status code the schema declares, match the documented body,
be an error in the `{"error": {"code", "message"}}` shape, refuse invalid data, accept valid data (or
refuse it with 401/403/404/409 for the caller's rights and the data's state), and send `Allow` with 405.

Cases are generated once per run (deterministically, from a fixed seed) and sent as each role in turn;
reads go first and deletions last, so that what a role's run deletes cannot hide the rest of its run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import CHECKS, CheckFunction
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.openapi.checks import RejectedPositiveData, UnsupportedMethodResponse

from linli.platform.app import create_app
from tests.conftest import Login

ROLES = {
    "district_admin": "admin@wuhou.demo",
    "community_staff": "staff@mumianling.demo",
    "grid_worker": "grid@mumianling.demo",
    "auditor": "auditor@wuhou.demo",
    "resident": "13800000001",
}
FUZZ_EXAMPLES_PER_OPERATION = 6
# At most this many of an operation's coverage and fuzzing cases are sent, spread over the roles (each role
# gets every len(ROLES)-th one), so that the whole run stays around a minute on a 2-core machine.
CASES_PER_OPERATION = 20
# Refusals of well-formed input that no schema can express, each a 400 with its own code: facts about
# stored data (a node outside every tenant, an item missing from the taxonomy, a token never issued, a
# household outside an estate, a command the device's type does not declare, a tenant's own form fields)
# and relations between fields or inside a body (from before to, a KPI window longer than allowed, a CSV
# without its header, a choice without options).
REFUSALS_NO_SCHEMA_CAN_STATE = frozenset(
    {
        "no_tenant",
        "not_an_estate",
        "unknown_item",
        "invalid_invitation_token",
        "invalid_reset_token",
        "window_too_long",
        "empty_window",
        "bad_range",
        "bad_csv_header",
        "unknown_command",
        "bad_command_args",
        "invalid_form_values",
        "invalid_form_definition",
        # 415: bytes a schema calls a binary file that do not decode as a photo.
        "unsupported_image",
    }
)
SEED = 20260009
# Checks that only look at the request and its response (the others re-send requests through a
# client of their own, outside the test's transaction, or need a stateful run).
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
)
ROLE_INDEX = {role: index for index, role in enumerate(ROLES)}
METHOD_ORDER = {"GET": 0, "HEAD": 0, "OPTIONS": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
BASE_URL = "http://linli.test"


@functools.cache
def fuzz_schema() -> Any:
    config = schemathesis.Config()
    config.projects.default.seed = SEED
    config.projects.default.generation.update(
        modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
        max_examples=FUZZ_EXAMPLES_PER_OPERATION,
        deterministic=True,
        database="none",
        no_shrink=True,
    )
    return schemathesis.openapi.from_dict(create_app().openapi(), config=config)


@functools.cache
def fuzz_cases() -> tuple[tuple[schemathesis.Case, ...], ...]:
    """Every operation's coverage and fuzzing cases, in a fixed order, at most CASES_PER_OPERATION each."""
    schema = fuzz_schema()
    project = schema.config
    cases: list[tuple[schemathesis.Case, ...]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: (METHOD_ORDER.get(op.method.upper(), 1), op.path, op.method))
    for operation in operations:
        collected: list[schemathesis.Case] = []
        settings = hypothesis.settings(
            project.get_hypothesis_settings(operation=operation, phase="fuzzing"),
            suppress_health_check=list(hypothesis.HealthCheck),
        )

        @settings
        def collect(case: schemathesis.Case) -> None:
            collected.append(case)  # noqa: B023  (called before the loop moves on)

        test = create_test(
            operation=operation,
            test_func=collect,
            config=HypothesisTestConfig(
                project=project,
                modes=[HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
                settings=settings,
                seed=SEED,
            ),
        )
        test()
        stride = max(1, len(collected) / CASES_PER_OPERATION)
        cases.append(tuple(collected[int(i * stride)] for i in range(min(len(collected), CASES_PER_OPERATION))))
    return tuple(cases)


@functools.cache
def checks() -> list[CheckFunction]:
    by_name = {check.__name__: check for check in CHECKS.get_all()}  # type: ignore[union-attr]
    return [by_name[name] for name in CHECK_NAMES]


@dataclass
class Finding:
    role: str
    case: schemathesis.Case
    response: httpx.Response
    problems: list[tuple[str, str]]  # (kind, detail)

    def group(self) -> tuple[str, int, tuple[str, ...]]:
        return self.case.operation.label, self.response.status_code, tuple(kind for kind, _ in self.problems)

    def __str__(self) -> str:
        request = self.response.request
        body = request.content.decode(errors="replace")
        lines = [
            f"[{self.role}] {self.case.operation.label} -> {self.response.status_code}",
            f"  request:  {request.method} {request.url}" + (f"\n            {body[:300]}" if body else ""),
            f"  response: {self.response.headers.get('content-type', '')} {self.response.text[:300]}",
        ]
        lines += [f"  - {kind}: {detail[:300]}" for kind, detail in self.problems]
        return "\n".join(lines)


def report(role: str, findings: list[Finding], sent: int) -> str:
    """One example per (operation, status, kinds of problem), with how often it happened."""
    groups: dict[tuple[str, int, tuple[str, ...]], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.group(), []).append(finding)
    head = f"{len(findings)} of {sent} requests as {role} broke the schema or the error shape, in {len(groups)} ways:"
    examples = [f"({len(items)}x) {items[0]}" for items in groups.values()]
    return "\n\n".join([head, *examples[:60]])


def error_shape_problem(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "error body is not {'error': {...}}"
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
        return "error body lacks a string code and message"
    return None


async def send(client: httpx.AsyncClient, case: schemathesis.Case, auth: dict[str, str]) -> httpx.Response:
    """Sends the case's exact request (as schemathesis serialises it) through the in-process app."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
    ).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return await client.request(
        prepared.method or case.method, prepared.url or "", headers=dict(prepared.headers), content=body
    )


def expected_refusal(failure: Failure, case: schemathesis.Case, response: httpx.Response) -> bool:
    """Failures the schema cannot prevent. A cursor is opaque: the schema says its alphabet and length,
    not which strings a previous page handed out (`400 bad_cursor`); see REFUSALS_NO_SCHEMA_CAN_STATE. A
    method undeclared for one path template may be declared for another that the same URL matches
    (`PATCH /residents/export.csv` is `PATCH /residents/{person_id}`, refused with 422). A date-time query
    value given as a number is a Unix time."""
    if isinstance(failure, RejectedPositiveData) and response.status_code in (400, 415):
        return response.json()["error"]["code"] in REFUSALS_NO_SCHEMA_CAN_STATE | {"bad_cursor"}
    if isinstance(failure, AcceptedNegativeData) and "Incorrect type" in failure.message:
        # On the wire a query value is a string either way, and a number is a Unix time to pydantic.
        return all(value.replace(".", "", 1).isdigit() for value in response.request.url.params.values())
    if isinstance(failure, UnsupportedMethodResponse):
        path = response.request.url.path
        other = case.operation.schema.find_operation_by_path(case.method.lower(), path)
        return other is not None and other.label != case.operation.label
    return False


def judge(role: str, case: schemathesis.Case, response: httpx.Response) -> Finding | None:
    problems: list[tuple[str, str]] = []
    try:
        case.validate_response(response, checks=checks())
    except FailureGroup as group:
        problems += [
            (failure.title, failure.message.replace("\n", " | "))
            for failure in group.exceptions
            if not expected_refusal(failure, case, response)
        ]
    shape = error_shape_problem(response)
    if shape:
        problems.append(("Error shape", shape))
    return Finding(role, case, response, problems) if problems else None


@pytest.mark.parametrize("role", list(ROLES))
async def test_api_conforms_to_its_schema_as_each_role(role: str, app: FastAPI) -> None:
    # The app's exceptions become the 500 a real client would get, to be reported with the rest.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    findings: list[Finding] = []
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        auth = await Login(client)(ROLES[role])
        cases = [case for operation in fuzz_cases() for case in operation[ROLE_INDEX[role] :: len(ROLES)]]
        for case in cases:
            response = await send(client, case, auth)
            finding = judge(role, case, response)
            if finding:
                findings.append(finding)
    assert not findings, report(role, findings, len(cases))


def test_error_shape_check_catches_a_bare_detail() -> None:
    """The harness's own check must be able to fail."""
    bare = httpx.Response(404, json={"detail": "Not Found"})
    assert error_shape_problem(bare) is not None
    assert error_shape_problem(httpx.Response(404, json={"error": {"code": "not_found", "message": "x"}})) is None


async def test_an_id_beyond_bigint_is_refused_as_invalid(client: httpx.AsyncClient, login: Login) -> None:
    auth = await login(ROLES["district_admin"])
    response = await client.get(f"/api/v1/households/{2**70}", headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/residents", "LTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"),  # "-999…": once a bigint overflow, a 500
        ("/api/v1/residents", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5"),  # beyond bigint
        ("/api/v1/api-keys", "eA"),  # "x": not a key id, once a 500
    ],
)
async def test_a_made_up_cursor_is_bad_cursor(path: str, cursor: str, client: httpx.AsyncClient, login: Login) -> None:
    auth = await login(ROLES["district_admin"])
    response = await client.get(path, params={"cursor": cursor}, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_cursor"


async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.delete("/open311/v2/mumianling/requests.json")
    assert response.status_code == 405
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["allow"].split(",")}
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_every_api_operation_declares_the_error_responses() -> None:
    schema = create_app().openapi()
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/", "/app/", "/open311/")):
            continue
        for method, operation in operations.items():
            for status in ("400", "401", "403", "404", "409", "422", "429"):
                declared = operation["responses"].get(status, {})
                ref = declared.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                assert ref.endswith("/ErrorResponse"), f"{method.upper()} {path} does not declare {status}"
