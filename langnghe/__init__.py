"""langnghe: the edges of the service — settings, the CLI and the embedded runner."""

__version__ = "0.1.0"
