"""The report of a conversion: one row per module (or converted pair), printable as a table."""

from __future__ import annotations

from typing import NamedTuple

STATUSES = ("converted", "refused", "kept")


class ReportEntry(NamedTuple):
    """One row: ``modules`` (qualified names, ``"fc1 + lif1"`` for a pair), ``status``
    (``"converted"``, ``"refused"``: a Linear -> neuron pair with no exact HetSyn equivalent,
    or ``"kept"``: not such a pair) and ``detail`` (the new layer, or the reason)."""

    modules: str
    status: str
    detail: str


class ConversionReport(tuple):
    """The rows of a conversion (a tuple of :class:`ReportEntry`); ``str()`` is a table."""

    def _with(self, status: str) -> tuple[ReportEntry, ...]:
        return tuple(e for e in self if e.status == status)

    @property
    def converted(self) -> tuple[ReportEntry, ...]:
        """The pairs replaced by a HetSyn layer."""
        return self._with("converted")

    @property
    def refused(self) -> tuple[ReportEntry, ...]:
        """The pairs left as they were because no exact HetSyn equivalent exists (reason given)."""
        return self._with("refused")

    @property
    def kept(self) -> tuple[ReportEntry, ...]:
        """The modules that are not part of a Linear -> neuron pair (reason given)."""
        return self._with("kept")

    def __str__(self) -> str:
        rows = [ReportEntry("module(s)", "status", "detail"), *self]
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        lines = [f"{r.modules:<{widths[0]}}  {r.status:<{widths[1]}}  {r.detail}" for r in rows]
        lines.insert(1, "-" * max(len(line) for line in lines))
        counts = ", ".join(f"{len(self._with(s))} {s}" for s in STATUSES)
        return "\n".join([*lines, counts])

    def __repr__(self) -> str:
        return f"ConversionReport({list(self)!r})"
