"""cer_lib: Clinical Evaluation Reports from public safety data, stage by stage.

The stage notebooks in ``notebooks/`` are thin; the work is done here:
``collect`` (sources) -> ``integrate`` (tidy tables) -> ``analysis`` -> ``report`` (narrative, HTML,
PDF, book), orchestrated by ``pipeline`` and driven from ``cli``.
"""
__version__ = "0.1.0"

from .context import open_run  # noqa: E402  (the one call every stage notebook starts with)

__all__ = ["__version__", "open_run"]
