"""What runs the service under gunicorn, and a live server of it for tests and bench."""
