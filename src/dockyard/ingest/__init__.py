"""How upload bytes come in, below the upload state machine (services/uploads.py):

    batches.py        a request body in reused page-aligned batches; each batch hashed and written
                      by two worker threads while the next is received
    sha256_state.py   a SHA-256 whose state can be saved and resumed (OpenSSL through ctypes), so
                      a chunked upload is never hashed twice

Mechanism, not policy: no use case lives here, and nothing here imports services, adapters or
backends (an import contract checks).
"""
