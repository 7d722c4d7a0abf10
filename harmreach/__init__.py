"""harmreach: needle & syringe programme coverage, gaps and planning.

``import harmreach as hr; hr.coverage(sites=..., area="Rotherham")`` (see
:mod:`harmreach.api`); the command line is ``harmreach`` (:mod:`harmreach.cli`).
"""

from __future__ import annotations

__version__ = "0.2.0"
__all__ = ["coverage", "load", "CoverageRun"]


def __getattr__(name: str) -> object:
    # Lazy: the command line imports this package and should not pay for the whole stack.
    if name in __all__:
        from harmreach import api

        return getattr(api, name)
    raise AttributeError(f"module 'harmreach' has no attribute {name!r}")
