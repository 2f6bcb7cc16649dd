"""The benchmark harness's own logic: statistics, ratios and endpoint probing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.loadgen import Run, parse_wrk, summarise
from bench.results import Ratio, bound, ratio
from bench.scenarios import _accepted, _line_results, feed_available, find_bulk_path


def run(throughput_ops: int, latencies_ms: list[float], seconds: float = 1.0) -> Run:
    return Run(ops=throughput_ops, errors=0, seconds=seconds, latencies=[x / 1000 for x in latencies_ms])


def test_a_measurement_is_the_median_of_its_repetitions_figure_by_figure() -> None:
    m = summarise("x", "req/s", [run(100, [1, 2, 3]), run(300, [10, 20, 30]), run(200, [4, 5, 6])])
    assert m.throughput == 200
    assert m.p50_ms == pytest.approx(5)
    assert m.p99_ms == pytest.approx(6)
    assert (m.ops, m.repetitions) == (600, 3)


def test_units_per_operation_scale_throughput_but_not_latency() -> None:
    r = Run(ops=4, errors=0, seconds=2.0, latencies=[0.5] * 4, unit_per_op=1000)
    assert r.throughput == 2000
    assert r.percentile(0.99) == pytest.approx(500)


def test_a_run_with_no_successful_operation_has_no_latency() -> None:
    assert math.isnan(Run(ops=0, errors=3, seconds=1.0, latencies=[]).percentile(0.5))


def test_ratios_compare_against_their_target_in_the_stated_direction() -> None:
    fast, slow = summarise("a", "req/s", [run(50, [1])] * 3), summarise("b", "req/s", [run(100, [4])] * 3)
    assert ratio("t", fast, slow, "throughput", 0.25, ">=").met is True
    assert ratio("t", fast, slow, "throughput", 0.6, ">=").met is False
    assert ratio("p", fast, slow, "p99_ms", 1.3, "<=").met is True
    assert ratio("p", slow, fast, "p99_ms", 1.3, "<=").met is False


def test_a_bound_holds_a_measurements_own_figure_strictly_under_its_target() -> None:
    quick, slow = summarise("a", "req/s", [run(50, [100])] * 3), summarise("b", "req/s", [run(50, [250])] * 3)
    assert bound("p99", quick, "p99_ms", 250, "<").met is True
    assert bound("p99", slow, "p99_ms", 250, "<").met is False
    assert bound("p99", slow, "p99_ms", 250, "<=").met is True
    assert bound("p99", None, "p99_ms", 250, "<").met is None
    nothing = summarise("c", "req/s", [Run(ops=0, errors=3, seconds=1.0, latencies=[])] * 3)
    assert bound("p99", nothing, "p99_ms", 250, "<").met is None


def test_a_missing_or_stand_in_figure_meets_no_target() -> None:
    assert ratio("t", None, None, "throughput", 0.5, ">=").met is None
    assert Ratio("t", 10.0, 0.5, ">=", informational=True).met is None


def test_the_bulk_endpoint_is_found_by_its_ndjson_request_body_only() -> None:
    json_only: dict[str, Any] = {
        "paths": {"/v1/participants": {"post": {"requestBody": {"content": {"application/json": {}}}}}}
    }
    assert find_bulk_path(json_only) is None
    with_bulk = {
        "paths": {
            **json_only["paths"],
            "/v1/imports": {"post": {"requestBody": {"content": {"application/x-ndjson": {}}}}},
        }
    }
    assert find_bulk_path(with_bulk) == "/v1/imports"


def test_a_bulk_import_answering_ndjson_is_found_and_preferred_over_other_ndjson_posts() -> None:
    ndjson_answer: dict[str, Any] = {"responses": {"200": {"content": {"application/x-ndjson": {}}}}}
    openapi = {
        "paths": {
            "/v1/exports": {"post": ndjson_answer},
            "/v1/partnerships/{partnership_id}/bulk-imports": {"post": ndjson_answer},
        }
    }
    assert find_bulk_path(openapi) == "/v1/partnerships/{partnership_id}/bulk-imports"


def test_the_feed_is_available_only_when_the_openapi_document_lists_it() -> None:
    assert not feed_available({"paths": {"/v1/partnerships/{id}/ledger": {"get": {}}}})
    assert feed_available({"paths": {"/v1/feed": {"get": {}}}})


def test_bulk_line_results_are_read_from_ndjson_or_a_json_envelope() -> None:
    ndjson = b'{"line":1,"result":"accepted"}\n{"line":2,"result":"error","reason":"bad cpr"}\n'
    assert [_accepted(r) for r in _line_results(ndjson, "application/x-ndjson")] == [True, False]
    envelope = b'{"results":[{"status":"duplicate"},{"status":"created"}]}'
    assert [_accepted(r) for r in _line_results(envelope, "application/json")] == [False, True]


def test_wrk_output_is_parsed_into_requests_per_second_and_percentiles() -> None:
    output = """Running 2s test @ http://127.0.0.1:1/
  Latency Distribution
     50%    1.44ms
     75%    2.00ms
     90%    3.10ms
     99%   23.69ms
  29114 requests in 2.00s, 3.11MB read
Requests/sec:  14557.02
Transfer/sec:      1.56MB
"""
    assert parse_wrk(output) == {"p50_ms": 1.44, "p99_ms": 23.69, "throughput": 14557.02}
    assert parse_wrk("connection refused") is None
