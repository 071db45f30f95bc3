"""The DAC7 endpoints of ``reconciliation-api`` (finance's API; issue 18):

- ``GET /dac7-reports/{year}``: the year's report as it stands, masked (TINs, accounts), with
  every exclusion and its reason and what each reportable seller still misses.
- ``POST /dac7-reports`` ``{"year", "declaration": 1, "test": false}``: the DPI file, validated
  against the schema and written to the tax-reports bucket; answered with the same summary and
  the file's name, URI, size and SHA-256. The file itself (full TINs and IBANs) is never in an
  answer: finance downloads it from the bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import flask
from pydantic import Field, StrictBool

from shared.domain.dac7 import Dac7Report, report_summary
from shared.domain.validation import StrictModel
from shared.entrypoints import deps
from shared.entrypoints.auth import Caller
from shared.entrypoints.http import HttpError, json_response, read_model
from shared.settings import Settings


class Dac7FileRequest(StrictModel):
    year: Annotated[int, Field(ge=2023, le=9999)]
    declaration: Annotated[int, Field(ge=1, le=999)] = 1  # the operator's files of the year: 1, 2, …
    test: StrictBool = False  # a file for the authority's test environment


def _render(report: Dac7Report, declaration: int, timestamp: datetime, test: bool) -> tuple[str, bytes]:
    from shared.adapters.documents.dpi_xml import build_dpi_xml, dpi_file_name

    data = build_dpi_xml(report, declaration=declaration, timestamp=timestamp, test=test)
    return dpi_file_name(report, declaration=declaration, timestamp=timestamp), data


def _summary(report: Dac7Report) -> dict[str, Any]:
    return report_summary(report) | {"ready_to_file": not report.gaps}


def preview(request: flask.Request, settings: Settings, caller: Caller, year: str) -> flask.Response:
    if not year.isdigit() or len(year) != 4:
        raise HttpError(
            422, "validation_failed", "year must be four digits", [{"field": "year", "reason": year[:8]}]
        )
    report = deps.dac7_reporting().report(int(year), datetime.now(UTC))
    return json_response(_summary(report))


def write_file(request: flask.Request, settings: Settings, caller: Caller) -> flask.Response:
    req = read_model(request, settings, Dac7FileRequest)
    report, written = deps.dac7_reporting().write_file(
        req.year,
        declaration=req.declaration,
        test=req.test,
        now=datetime.now(UTC),
        render=_render,
        files=deps.tax_reports(),
    )
    file = {"name": written.name, "uri": written.uri, "bytes": written.size, "sha256": written.sha256}
    return json_response(_summary(report) | {"file": file, "written_by": caller.email}, 201)
