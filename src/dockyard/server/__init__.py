"""The HTTP server around the ASGI app: uvicorn, its protocol customised for body
batching, connection limits and zero-copy sends (`serve` starts it)."""
