"""Vigil's use cases, one module per group; ``vigil.service`` composes them.

Each use-case class takes the stores and the other use cases it needs in its
constructor and nothing else, so it can be read, and tested, on its own; the
API and the CLI call the same methods. Nothing below this package imports it:
the lifecycle controller, for one, is handed the use cases it acts through.
"""
