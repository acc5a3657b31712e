"""marshmallow schemas of every request and response; they depend on nothing of ours."""
