"""Running the app under gunicorn."""
