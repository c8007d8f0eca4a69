"""The shape of a report: its numbered sections, the items public data cannot fill, and where each
exhibit (table or figure) goes. A profile gives one (`cer_lib.report.meddev.MEDDEV_A9` for devices);
the narrative renders its sections from their templates and the document places the exhibits, so
neither knows any section number.

Section numbers are the only numbers a template may write itself (through ``heading()`` and
``ref()``); every other number in the prose is a fact (see `cer_lib.report.facts`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
    exhibits: dict[str, str]  # exhibit id -> the section it is shown in
    figures_section: str  # where figures go (after the table they follow)
    sources_section: str  # where each source's status and reason are given
    references_section: str  # where the data's last-updated dates are listed
    subject: tuple[str, str] = ("", "")
    identification: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    caveats: tuple = ()  # the limitations the report states (`narrative.Caveat`); empty: narrative.CAVEATS (devices)
    completed_by: str = "manufacturer"  # who completes the placeholders ("marketing authorisation holder")
    tables: tuple = ()  # the kind's own exhibits (`document._Spec`) beside the shared ones of `document.TABLE_SPECS`

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
        """The section an exhibit is shown in; figures (``fig-*``) go to `figures_section`."""
        if exhibit_id.startswith("fig-"):
            return self.figures_section
        return self.exhibits.get(exhibit_id)
