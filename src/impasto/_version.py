"""impasto's version, in one place: the package (``impasto.__version__``), its build (pyproject.toml)
and what its outputs say made them read it here."""

__version__ = "2.2.0"
