"""Developer tools run as modules (python -m hil_service.tools.<name>)."""
