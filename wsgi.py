"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""
from fhirsvc import create_app

app = create_app()
