"""Type stubs for the ferrolog._native extension module."""

__version__: str
