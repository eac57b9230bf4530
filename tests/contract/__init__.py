"""Contract suites: one per port, importable; a backend's test file is a fixture plus a subclass."""
