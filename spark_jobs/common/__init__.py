"""Code shared by the stages: settings, schemas, session and I/O helpers."""
