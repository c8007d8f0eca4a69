"""The mirror's file formats, registered once: the registry is the only place that knows them.

A format recognises its files, names the endpoints it feeds and converts its files (`base`
documents the interface and how to add a format). Registration order does not matter: units load
in path order and duplicates are resolved by each format's ``priority``.
"""
from __future__ import annotations

from .base import Conversion, ConversionContext, FileFormat, SourceUnit
from .drug_label import DrugLabelFormat
from .faers_ascii import FaersAsciiFormat
from .foiclass import FoiclassFormat
from .maude_flat import MaudeFlatFormat
from .maude_sheet import MaudeSheetFormat
from .openfda_json import OpenFDAJsonFormat
from .publisher_csv import PublisherCsvFormat
from .registry import Discovery, FormatRegistry

__all__ = ["mirror_formats", "FormatRegistry", "Discovery", "FileFormat", "SourceUnit", "Conversion", "ConversionContext"]

mirror_formats = FormatRegistry()
mirror_formats.register(OpenFDAJsonFormat())
mirror_formats.register(PublisherCsvFormat())
mirror_formats.register(FoiclassFormat())
mirror_formats.register(MaudeFlatFormat())
mirror_formats.register(MaudeSheetFormat())
mirror_formats.register(FaersAsciiFormat())
mirror_formats.register(DrugLabelFormat())
