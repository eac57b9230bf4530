"""Dockyard: a container registry that speaks the OCI Distribution API and the Amazon ECR API."""

__version__ = "0.1.0"
