"""API fuzzing from the OpenAPI document (/api/openapi.json) with schemathesis, against the WSGI app:
every operation with generated parameters and bodies, valid and invalid. Each answer must not be a
5xx, must have a documented status code, content type and headers, must match the documented
response schema, and invalid input must be rejected with a 4xx. The operations on one analysis run
once more on a finished one (made with the quick analyzer of test_web_clips, not the pipeline), so
its reports and media are fetched too; nothing runs the uploads the fuzzing makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402  (after the skip: comes with it)
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_web import drain, make_app, upload  # noqa: E402
from test_web_clips import clip  # noqa: E402, F401  (a fixture)

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


def documented_operations() -> list[Any]:
    """(METHOD, path, generation mode) to fuzz: every operation of the OpenAPI document (built
    without an app) with valid input, and with invalid input where it takes any."""
    from microlens.web.openapi import spec
    from microlens.web.settings import load_settings

    out = []
    for path, item in spec(load_settings({"DATA_DIR": "."}))["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            takes = bool(item.get("parameters") or op.get("parameters") or op.get("requestBody"))
            modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if takes else [GenerationMode.POSITIVE]
            out += [pytest.param(method.upper(), path, m, False, id=f"{m.value}-{method.upper()}-{path}")
                    for m in modes]
            if "{analysis_id}" in path and method != "delete":  # and on a finished analysis
                out.append(pytest.param(method.upper(), path, GenerationMode.POSITIVE, True,
                                        id=f"done-{method.upper()}-{path}"))
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> tuple[Any, str]:  # noqa: F811
    """The schema loaded from the app, and the id of one finished analysis (its reports and media
    exist; made with the quick analyzer). Uploads the fuzzing makes stay queued: nothing runs them."""
    app = make_app(tmp_path_factory.mktemp("fuzz"))
    done = upload(app.test_client(), clip).get_json()["id"]
    drain(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show as a 500 answer, as in production
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app), done


# schemathesis' pytest integration (schema.parametrize, from_fixture) does not run on pytest 9.2
# ('Function' object has no attribute '_nodeid'), so each operation runs its own Hypothesis test.
@pytest.mark.parametrize(("method", "path", "mode", "on_done"), documented_operations())
def test_api_answers_as_documented(api: tuple[Any, str], method: str, path: str, mode: Any,
                                   on_done: bool) -> None:
    schema, done = api
    operation = schema[path][method]
    fixed = {"path_parameters": {"analysis_id": done}} if on_done else {}

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_every_operation_is_fuzzed(tmp_path: Path) -> None:
    """The document lists every API route, so the fuzzing above reaches all of them."""
    app = make_app(tmp_path)
    documented = set(app.test_client().get("/api/openapi.json").get_json()["paths"])
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/ws/")):
            routes.add(rule.rule.replace("<", "{").replace(">", "}"))
    assert routes == documented
