"""The report's exhibits: numbered tables and figures, one module per family.

`base` fixes their shape (`TableExhibit`, `FigureExhibit`, `ReportRun`) and renders tables; each
family module lists its exhibits as ``TABLES`` (and ``FIGURES``, each naming the table it follows):

    identity       the device: classification, listings (GUDID, registration, EUDAMED), comparators
    submissions    premarket submissions: equivalence candidates only
    data_sources   the run's sources and their status; the mirror's load report (any kind)
    reports        adverse event reports: counts, outcomes, brands and manufacturers, near-duplicates
    trend          trend, verdict, control chart, CUSUM, change points, forecast
    problems       problem terms and changes in their shares
    signals        disproportionality against the comparators
    recalls        recalls and enforcement reports
    narratives     case narratives of the review sample
    reproduce      commands, parameters and data requests (any kind)

A report structure (`cer_lib.report.structure.ReportStructure`, given by the profile) lists the
exhibits it shows and where; `cer_lib.report.document` places and numbers them.
"""
from .base import FigureExhibit, ReportRun, TableExhibit

__all__ = ["FigureExhibit", "ReportRun", "TableExhibit"]
