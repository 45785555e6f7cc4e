"""The ``vigil`` command line: parses, calls the service, renders."""
