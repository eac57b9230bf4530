"""Names of upload segments, shared by every blob store: `<start, 20 digits>-<16 hex>`.

The start offset, zero-padded, sorts a listing in byte order; the token is the writer's own, so
two requests writing one upload at the same offset never write the same segment.
"""

from __future__ import annotations

import secrets


def segment_name(offset: int) -> str:
    """A fresh segment name for a writer starting at `offset`."""
    return f"{offset:020d}-{secrets.token_hex(8)}"
