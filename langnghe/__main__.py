"""``python -m langnghe`` is the same as the ``langnghe`` command."""

from langnghe.cli import app

app()
