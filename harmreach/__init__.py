"""harmreach: needle & syringe programme coverage, gaps and planning (command line front end)."""

__version__ = "0.1.0"
