"""gunicorn -c gunicorn.conf.py 'service:create_app()': the settings live in the package."""

from service.serving.gunicorn_conf import *  # noqa: F403
