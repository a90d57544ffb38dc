"""CSV import into the database: validate first, write all-or-nothing, enrich metadata.

Parsing and validation live in :mod:`sigmasight_lib.portfolios.csv_import`
(pure); this module decides what is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.marketdata.base import MarketDataProvider
from sigmasight_lib.portfolios.csv_import import ImportReport, parse_positions_csv
from sigmasight_lib.portfolios.service import WriteSummary, write_portfolio


@dataclass(frozen=True)
class ImportResult:
    """Outcome of one ``portfolio import``.

    ``written`` is what was written (None when nothing was); for a dry run it
    is the preview of what would be written, computed against the database.
    """

    file: str
    portfolio: str
    owner: str
    report: ImportReport
    dry_run: bool
    written: WriteSummary | None = None
    imported_rows: tuple[int, ...] = field(default_factory=tuple)
    metadata_fetched: int = 0
    sync: bool = False
    overwrite_edits: bool = False
    notes: tuple[str, ...] = ()

    @property
    def unresolved_conflicts(self) -> bool:
        """Some position was left unchanged because an edit differs from the file."""
        return bool(self.written and self.written.conflicts and not self.overwrite_edits)

    @property
    def succeeded(self) -> bool:
        """Rows were imported without an unresolved conflict; for a dry run: every row is
        valid and there would be no unresolved conflict."""
        if self.unresolved_conflicts:
            return False
        if self.dry_run:
            return self.report.ok
        return bool(self.imported_rows)

    def to_dict(self) -> dict:
        written = self.written.to_dict() if self.written else None
        return {
            "file": self.file,
            "portfolio": self.portfolio,
            "owner": self.owner,
            "dry_run": self.dry_run,
            "sync": self.sync,
            "overwrite_edits": self.overwrite_edits,
            "succeeded": self.succeeded,
            "portfolio_id": self.written.portfolio_id if self.written else None,
            "imported_rows": list(self.imported_rows),
            "written": None if self.dry_run else written,
            "preview": written if self.dry_run else None,
            "conflicts": written["conflicts"] if written else [],
            "absent": written["absent"] if written else [],
            "metadata_fetched": self.metadata_fetched,
            **self.report.to_dict(),
            "notes": [*self.report.notes, *self.notes],
        }

    def lines(self) -> list[str]:
        """Human-readable report: preview, issues, notes, outcome."""
        out = [f"{self.file}: {len(self.report.rows)} valid rows, {len(self.report.issues)} issues"]
        for parsed in self.report.rows:
            s = parsed.spec
            extra = f" {s.option_type} {s.strike:g} exp {s.expiry}" if s.is_option else ""
            extra += f" [{parsed.section}]" if parsed.section else ""
            out.append(
                f"  row {parsed.row}: {s.position_type.value:<5} {s.symbol:<20} qty {s.quantity:g}"
                f" @ {'?' if s.entry_price is None else s.entry_price}"
                f" on {'?' if s.entry_date is None else s.entry_date}{extra}"
            )
        out += [f"  error: {issue} [{issue.code}]" for issue in self.report.issues]
        out += [f"  note: {note}" for note in (*self.report.notes, *self.notes)]
        w = self.written
        if w is not None:
            verb = "would be" if self.dry_run else "was"
            for c in w.conflicts:
                action = "overwritten" if self.overwrite_edits else "kept (the edit stays)"
                out.append(f"  conflict: {c}; {action}")
            for a in w.absent:
                action = f"{verb} removed (--sync)" if a.action == "removed" else a.action
                out.append(
                    f"  not in the file: position {a.position_id} {a.symbol} qty {a.quantity:g}: {action}"
                )
            if w.kept and not self.sync:
                out.append(f"  {w.kept} position(s) not in the file kept; --sync removes them")
            if self.unresolved_conflicts:
                out.append(
                    f"  {w.conflicted} position(s) left unchanged: a later `position edit` "
                    "differs from the file; pass --overwrite-edits to apply the file"
                )
        counts = (
            ""
            if w is None
            else f"{w.created} created, {w.updated} updated, {w.removed} removed, "
            f"{w.unchanged} unchanged, {w.kept} kept, {w.conflicted} conflicted"
        )
        if self.dry_run:
            out.append("dry run: nothing written" + (f"; would be {counts}" if counts else ""))
        elif w is None:
            out.append("nothing written: fix the rows above or pass --valid-rows-only")
        else:
            out.append(f"portfolio {self.portfolio!r} (id {w.portfolio_id}): {counts}")
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
    sync: bool = False,
    overwrite_edits: bool = False,
    decimal: str | None = None,
) -> ImportResult:
    """Validate ``file`` and, unless any row fails (or ``dry_run``), write the portfolio.

    The import is all-or-nothing: when any row fails nothing is written
    unless ``valid_rows_only``. Importing into an existing portfolio of the
    same owner and name adds and updates positions (a rerun never duplicates).
    Metadata for new symbols is fetched from ``provider``.

    Parameters
    ----------
    sync : bool, default=False
        Also remove the stored positions the file does not list — never one
        whose symbol is on a row that failed validation, never a closed one,
        and none at all when a failed row's symbol is unreadable. Without it
        they are kept and listed.
    overwrite_edits : bool, default=False
        Apply the file's quantity / entry price even where a later
        ``position edit`` set another value. Without it such a position is
        left unchanged, reported as a conflict, and the import does not succeed.
    dry_run : bool, default=False
        Validate and preview against the database (created / updated / removed
        / kept / conflicts); write nothing.
    decimal : {".", ","} or None, default=None
        The file's decimal mark; None detects a decimal comma when unambiguous
        (see :func:`~sigmasight_lib.portfolios.csv_import.parse_positions_csv`).
    """
    report = parse_positions_csv(
        file, unknown_symbols=provider.unknown_symbols, as_of=as_of, decimal=decimal
    )
    options = {"sync": sync, "overwrite_edits": overwrite_edits}
    base = ImportResult(
        file=str(file), portfolio=name, owner=owner_email, report=report, dry_run=dry_run, **options
    )
    if not report.rows or (report.issues and not valid_rows_only and not dry_run):
        return base
    unreadable = [row for row, symbol in report.failed_symbols if symbol is None]
    notes: tuple[str, ...] = ()
    if sync and unreadable:
        sync = False
        notes = (
            f"--sync removes nothing: the symbol of row {unreadable[0]} could not be read, "
            "so which position it describes is unknown",
        )
    written = write_portfolio(
        session,
        name=name,
        owner_email=owner_email,
        positions=[r.spec for r in report.rows],
        rows=[r.row for r in report.rows],
        source="csv",
        sync=sync,
        protected_symbols={s for _, s in report.failed_symbols if s is not None},
        overwrite_edits=overwrite_edits,
        dry_run=dry_run,
    )
    result = replace(base, written=written, notes=notes)
    if dry_run:
        return result
    held = {c.row for c in written.conflicts} if not overwrite_edits else set()
    underlyings = {r.spec.underlying for r in report.rows}
    lacking = sorted(underlyings - store.load_metadata_symbols(session))
    fetched = (
        store.save_metadata(session, provider.fetch_metadata(lacking), provider.name)
        if lacking
        else 0
    )
    return replace(
        result,
        imported_rows=tuple(r.row for r in report.rows if r.row not in held),
        metadata_fetched=fetched,
    )
