"""Entry point for servers (``gunicorn wsgi:app``), workers and ``flask --app wsgi``."""

from objectwar import create_app
from objectwar.tasks import huey

app = create_app()

__all__ = ["app", "huey"]
