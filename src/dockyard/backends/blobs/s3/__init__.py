"""Blobs in an S3 bucket (key space in paths.py)."""
