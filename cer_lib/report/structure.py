"""The shape of a report: its numbered sections, the items public data cannot fill, and where each
exhibit (table or figure) goes. A profile gives one (`cer_lib.report.meddev.MEDDEV_A9` for devices);
the narrative renders its sections from their templates and the document places the exhibits, so
neither knows any section number.

Section numbers are the only numbers a template may write itself (through ``heading()`` and
``ref()``); every other number in the prose is a fact (see `cer_lib.report.facts`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exhibits import FigureExhibit, TableExhibit

__all__ = ["Placeholder", "ReportStructure", "Section"]


@dataclass(frozen=True)
class Section:
    """One section of the report."""

    id: str  # stable, used in HTML anchors and narrative.json
    number: str  # "1", "4.6", or "A" for an appendix
    title: str
    template: str  # file in the structure's template folder
    placeholder: bool = False  # True: the section is for the manufacturer to write (public data cannot fill it)
    guidance: str = ""  # what the guideline asks for here

    @property
    def level(self) -> int:
        return self.number.count(".") + 1

    @property
    def top(self) -> str:
        """The top-level section this one belongs to ("4" for "4.6")."""
        return self.number.split(".")[0]

    @property
    def anchor(self) -> str:
        return "sec-" + self.id


@dataclass(frozen=True)
class Placeholder:
    """An item public data cannot fill: the manufacturer completes it."""

    id: str
    section: str  # section number
    title: str
    needed: str  # what the manufacturer has to provide


@dataclass(frozen=True)
class ReportStructure:
    """Everything the narrative and the document need to know about the report's outline.

    ``identification`` rows and ``subject`` (a name, then a detail in brackets) are templates over
    fact texts (``{device_name}``): the front matter's identification table and the line under the title.
    """

    name: str  # the guideline the structure follows, as the front matter names it
    title: str  # the report's title
    templates: str  # folder of the section templates inside cer_lib/report
    sections: tuple[Section, ...]
    subsections: dict[str, str]  # numbered headings inside a section's text: number -> title
    placeholders: dict[str, Placeholder]
    exhibits: dict[str, str]  # table id -> the section it is shown in (a figure follows its table)
    figures_section: str  # where a figure goes whose table is not shown
    sources_section: str  # where each source's status and reason are given
    references_section: str  # where the data's last-updated dates are listed
    subject: tuple[str, str] = ("", "")
    identification: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    caveats: tuple = ()  # the limitations the report states (`narrative.Caveat`); empty: narrative.CAVEATS (devices)
    completed_by: str = "manufacturer"  # who completes the placeholders ("marketing authorisation holder")
    document_kind: str = "Clinical Evaluation Report"  # the title block's kicker and the page title
    subject_labels: tuple[str, str] = ("Device name", "Device class")  # title-block rows; "" leaves one out
    tables: tuple["TableExhibit", ...] = ()  # every table the structure shows, in report order
    figures: tuple["FigureExhibit", ...] = ()  # every figure it may show (when the analysis drew it)

    def section(self, key: str) -> Section:
        """The section with number or id ``key`` (``"4.6"`` or ``"analysis"``)."""
        for s in self.sections:
            if key in (s.number, s.id):
                return s
        raise KeyError(f"no report section {key!r}; sections are {', '.join(s.number for s in self.sections)}")

    def top_level(self) -> list[Section]:
        return [s for s in self.sections if s.level == 1]

    def subsections_of(self, number: str) -> list[Section]:
        """The section ``number`` and its subsections in order (``"4"`` -> 4, 4.1 ... 4.6)."""
        return [s for s in self.sections if s.number == number or s.number.startswith(number + ".")]

    def section_numbers(self) -> set[str]:
        """Every section and subsection number the report uses."""
        return {s.number for s in self.sections} | set(self.subsections)

    def exhibit_section(self, exhibit_id: str) -> str | None:
        """The section an exhibit is shown in: a table's own; a figure's table's (else `figures_section`)."""
        for figure in self.figures:
            if figure.id == exhibit_id:
                return self.exhibits.get(figure.follows, self.figures_section)
        return self.exhibits.get(exhibit_id, self.figures_section if exhibit_id.startswith("fig-") else None)

    def figure_exhibits(self, drawn: Sequence[str]) -> list["FigureExhibit"]:
        """The figures shown for the analysis figures ``drawn`` (ids in ``results/analysis.json``, in
        order): the structure's own, then one for each figure it does not know (shown, never lost,
        at the end of `figures_section`)."""
        from .exhibits.base import FigureExhibit

        known = {f.figure for f in self.figures}
        extra = [FigureExhibit("fig-" + (re.sub(r"[^a-z0-9]+", "-", d.lower()).strip("-") or "figure"), d, follows="",
                               sources=()) for d in drawn if d not in known]
        return [f for f in self.figures if f.figure in drawn] + extra

    def exhibit_order(self, drawn: Sequence[str] = ()) -> list["TableExhibit | FigureExhibit"]:
        """Tables in report order, each followed by its figures that the analysis drew (``drawn``):
        the order in which the exhibits appear."""
        figures = self.figure_exhibits(drawn)
        order: list[TableExhibit | FigureExhibit] = []
        for table in self.tables:
            order.append(table)
            order += [f for f in figures if f.follows == table.id]
        return order + [f for f in figures if f not in order]

    def exhibit_labels(self, drawn: Sequence[str] = ()) -> dict[str, str]:
        """``{exhibit id: "Table 3" | "Figure 2"}``, numbered in the order the exhibits appear."""
        labels: dict[str, str] = {}
        counts = {"table": 0, "figure": 0}
        for exhibit in self.exhibit_order(drawn):
            counts[exhibit.kind] += 1
            labels[exhibit.id] = f"{exhibit.kind.capitalize()} {counts[exhibit.kind]}"
        return labels
