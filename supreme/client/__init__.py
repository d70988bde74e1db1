"""Python SDK and the ``supreme`` command line."""
