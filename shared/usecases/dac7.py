"""The yearly DAC7 report (issue 18): every seller who sold in the year, its sales from the
journal, and the DPI file for the tax authority.

Cost: one query for the sellers per page of ``page_size`` (in run-bucket order) and one query per
seller for its journal entries since 1 January (``ContentsQueries.seller_entries``, the index on
``(seller_id, created_at)`` the statements use). A marketplace of 100,000 sellers reads each
seller's year of entries once: a yearly job, run by finance, never on a request path that
sellers wait on.

The file carries TINs and IBANs in full: it is written to the tax-reports bucket (finance only)
and never returned in an answer, which shows the masked summary.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from shared import log
from shared.domain.dac7 import (
    Dac7Error,
    Dac7Report,
    PlatformOperator,
    Sale,
    SellerIdentity,
    build_report,
    period_bounds,
    sales_from_journal,
    seller_identity,
)
from shared.domain.fx import convert
from shared.domain.money import Money
from shared.domain.runs import RUN_BUCKET_SPACE, page_cursor
from shared.domain.sellers import Seller
from shared.usecases.ports import DocumentStore, RateSource, Storage

logger = logging.getLogger(__name__)

FIRST_DAC7_YEAR = 2023  # the directive's first reportable period


class Dac7NotConfigured(Dac7Error):
    def __init__(self) -> None:
        super().__init__(
            "dac7_not_configured",
            "no platform operator is configured (DAC7_PLATFORM_OPERATOR): the report has no sender",
        )


@dataclass(frozen=True)
class Dac7File:
    name: str  # the object's name in the tax-reports bucket
    uri: str
    sha256: str
    size: int


# Renders a report as the authority's file: (report, declaration, timestamp, test) -> (file name, bytes).
DpiRenderer = Callable[[Dac7Report, int, datetime, bool], tuple[str, bytes]]


def check_year(year: int, now: datetime, *, for_filing: bool) -> None:
    """A report covers a calendar year from 2023 on. A file for the authority (not a test file)
    only for a year that is over: the year in progress can be previewed and tested."""
    if not FIRST_DAC7_YEAR <= year <= now.year:
        raise Dac7Error(
            "dac7_year_out_of_range", f"year must be between {FIRST_DAC7_YEAR} and {now.year}", "year"
        )
    if for_filing and year == now.year:
        raise Dac7Error(
            "dac7_year_not_closed",
            f"{year} is not over: file it from 1 January {year + 1} (a test file can be written now)",
            "year",
        )


class Dac7Reporting:
    def __init__(
        self,
        store: Storage,
        operator: PlatformOperator | None,
        rates: RateSource | None,
        page_size: int = 500,
    ) -> None:
        self.store, self.operator, self.rates = store, operator, rates
        self.page_size = page_size

    def report(self, year: int, now: datetime) -> Dac7Report:
        """Every seller with a sale in ``year``, reportable or excluded with its reason."""
        operator = self._operator()
        check_year(year, now, for_filing=False)
        start, _ = period_bounds(year, operator.timezone)
        identities: dict[str, SellerIdentity] = {}
        sales: list[Sale] = []
        for seller in self._sellers():
            seller_sales = sales_from_journal(
                self.store.contents.seller_entries(seller.seller_id, start), year, operator.timezone
            )
            if seller_sales:
                identities[seller.seller_id] = seller_identity(seller)
                sales.extend(seller_sales)
        report = build_report(year, operator, identities, sales, self._to_eur(year, now, operator))
        logger.info(
            "DAC7 %s: %d reportable, %d excluded, %d with gaps",
            year,
            len(report.reportable),
            len(report.excluded),
            len(report.gaps),
        )
        return report

    def write_file(
        self,
        year: int,
        *,
        declaration: int,
        test: bool,
        now: datetime,
        render: DpiRenderer,
        files: DocumentStore,
    ) -> tuple[Dac7Report, Dac7File]:
        """The report as a validated DPI file in the tax-reports bucket (``dac7/<year>/<name>``).
        Refused while a reportable seller misses identity fields (the renderer checks)."""
        check_year(year, now, for_filing=not test)
        report = self.report(year, now)
        name, data = render(report, declaration, now, test)
        object_name = f"dac7/{year}/{'test/' if test else ''}{name}"
        uri = files.put_once(object_name, data, "application/xml")
        with log.bind(year=year):
            logger.info("DAC7 file written: %s (%d bytes)", uri, len(data))
        return report, Dac7File(object_name, uri, hashlib.sha256(data).hexdigest(), len(data))

    def _operator(self) -> PlatformOperator:
        if self.operator is None:
            raise Dac7NotConfigured()
        return self.operator

    def _sellers(self) -> Iterator[Seller]:
        cursor: str | None = None
        while True:
            page = self.store.sellers.in_buckets(0, RUN_BUCKET_SPACE, cursor, self.page_size)
            yield from page
            if len(page) < self.page_size:
                return
            cursor = page_cursor(page[-1].seller_id)

    def _to_eur(
        self, year: int, now: datetime, operator: PlatformOperator
    ) -> Callable[[Money], Money] | None:
        """Non-euro totals meet the EUR 2,000 threshold at the rate of the period's last day (or
        today's, for the year in progress)."""
        rates = self.rates
        if rates is None:
            return None
        _, end = period_bounds(year, operator.timezone)
        at = min(now, end)

        def to_eur(amount: Money) -> Money:
            return convert(amount, rates.rate(amount.currency, "EUR", at)).at_rate

        return to_eur
