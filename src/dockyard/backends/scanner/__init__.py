"""The offline scanner: image inventories (layers, catalogers) and OSV matching."""
