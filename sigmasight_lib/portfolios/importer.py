"""CSV import into the database: validate first, write all-or-nothing, enrich metadata.

Parsing and validation live in :mod:`sigmasight_lib.portfolios.csv_import`
(pure); this module decides what is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.marketdata.base import MarketDataProvider
from sigmasight_lib.portfolios.csv_import import ImportReport, parse_positions_csv
from sigmasight_lib.portfolios.service import WriteSummary, write_portfolio


@dataclass(frozen=True)
class ImportResult:
    """Outcome of one ``portfolio import``."""

    file: str
    portfolio: str
    owner: str
    report: ImportReport
    dry_run: bool
    written: WriteSummary | None = None
    imported_rows: tuple[int, ...] = field(default_factory=tuple)
    metadata_fetched: int = 0

    @property
    def succeeded(self) -> bool:
        """Rows were imported; for a dry run: every row is valid."""
        if self.dry_run:
            return self.report.ok
        return bool(self.imported_rows)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "portfolio": self.portfolio,
            "owner": self.owner,
            "dry_run": self.dry_run,
            "succeeded": self.succeeded,
            "portfolio_id": self.written.portfolio_id if self.written else None,
            "imported_rows": list(self.imported_rows),
            "written": vars(self.written) if self.written else None,
            "metadata_fetched": self.metadata_fetched,
            **self.report.to_dict(),
        }

    def lines(self) -> list[str]:
        """Human-readable report: preview, issues, notes, outcome."""
        out = [f"{self.file}: {len(self.report.rows)} valid rows, {len(self.report.issues)} issues"]
        for parsed in self.report.rows:
            s = parsed.spec
            extra = f" {s.option_type} {s.strike:g} exp {s.expiry}" if s.is_option else ""
            out.append(
                f"  row {parsed.row}: {s.position_type.value:<5} {s.symbol:<20} qty {s.quantity:g}"
                f" @ {s.entry_price} on {s.entry_date}{extra}"
            )
        out += [f"  error: {issue}" for issue in self.report.issues]
        out += [f"  note: {note}" for note in self.report.notes]
        if self.dry_run:
            out.append("dry run: nothing written")
        elif self.written is None:
            out.append("nothing written: fix the rows above or pass --valid-rows-only")
        else:
            w = self.written
            out.append(
                f"portfolio {self.portfolio!r} (id {w.portfolio_id}): {w.created} created, "
                f"{w.updated} updated, {w.removed} removed, {w.unchanged} unchanged"
            )
        return out


def import_portfolio_csv(
    session: Session,
    file: Path,
    *,
    name: str,
    owner_email: str,
    provider: MarketDataProvider,
    dry_run: bool = False,
    valid_rows_only: bool = False,
    as_of: dt.date | None = None,
) -> ImportResult:
    """Validate ``file`` and, unless any row fails (or ``dry_run``), write the portfolio.

    The import is all-or-nothing: when any row fails nothing is written
    unless ``valid_rows_only``. Importing into an existing portfolio of the
    same owner and name reconciles it to the file (a rerun replaces, never
    duplicates). Metadata for new symbols is fetched from ``provider``.
    """
    report = parse_positions_csv(file, unknown_symbols=provider.unknown_symbols, as_of=as_of)
    result = ImportResult(
        file=str(file), portfolio=name, owner=owner_email, report=report, dry_run=dry_run
    )
    if dry_run or not report.rows or (report.issues and not valid_rows_only):
        return result
    written = write_portfolio(
        session,
        name=name,
        owner_email=owner_email,
        positions=[r.spec for r in report.rows],
        source="csv",
    )
    underlyings = {r.spec.underlying for r in report.rows}
    lacking = sorted(underlyings - store.load_metadata_symbols(session))
    fetched = (
        store.save_metadata(session, provider.fetch_metadata(lacking), provider.name)
        if lacking
        else 0
    )
    return ImportResult(
        file=str(file),
        portfolio=name,
        owner=owner_email,
        report=report,
        dry_run=False,
        written=written,
        imported_rows=tuple(r.row for r in report.rows),
        metadata_fetched=fetched,
    )
