"""Blobs as files under one directory (key space in paths.py)."""
