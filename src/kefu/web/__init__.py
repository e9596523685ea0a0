"""HTTP layer: app factory, dependencies, error mapping, templates and static files."""
