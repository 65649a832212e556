"""`scalezoo`: the command line; `app` builds it from one module per command."""

from scalezoo.cli.app import main

__all__ = ["main"]
