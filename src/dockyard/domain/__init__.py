"""Pure domain: digests, names, manifests, errors. No I/O, no framework imports."""
