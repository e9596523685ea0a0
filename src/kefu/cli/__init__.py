"""The ``kefu`` command."""
