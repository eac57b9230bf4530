"""Page tokens for the middle and the end of a huge listing, without paging through it.

Walking a million images by 1,000 to reach the last page took 100 s on SQLite and 250 s on
PostgreSQL here: most of the benchmark's time budget, spent on a figure nobody asked for. A token
is the last key of the previous page (pushed_at, id), signed with the server's page-token key and
bound to the listing's scope, so the benchmark mints it the way the server does: the key read from
the database, the key of image number ``offset`` (in listing order) found with one OFFSET query,
the scope and encoding from Dockyard's own code. At sizes that are walked, every minted token is
compared with the one the server handed out during the walk, and the run fails if one differs.
"""

from __future__ import annotations

import sqlalchemy as sa


def page_offsets(size: int) -> tuple[int, dict[str, int]]:
    """(page size of the walk, images before the middle and the last full page)."""
    page = min(1000, size // 10)
    return page, {"middle": size // 2 // page * page, "end": size - page}


def mint(db_url: str, account: str, repo_name: str, offsets: dict[str, int]) -> dict[str, str]:
    """A DescribeImages token (default filters) per offset, as the server would issue it."""
    from dockyard.backends.metadata.schema import images
    from dockyard.backends.metadata.sql import SqlMetadataStore
    from dockyard.domain.page_tokens import encode_token
    from dockyard.services.image_queries import Listing, _scope

    store = SqlMetadataStore(db_url, create=False)
    try:
        repo = store.get_repository(account, repo_name)
        key = store.secret("page-token-key", b"")  # the server created it at first start
        scope = _scope("DescribeImages", repo, Listing())
        ordered = (
            sa.select(images.c.pushed_at, images.c.id)
            .where(images.c.repo_id == repo.id, images.c.status == "ACTIVE")
            .order_by(images.c.pushed_at, images.c.id)
        )
        tokens = {}
        with store._read() as conn:
            for where, before in offsets.items():
                last = conn.execute(ordered.offset(before - 1).limit(1)).one()
                position = {"pushed_at": last.pushed_at, "id": last.id}
                tokens[where] = encode_token(key, scope, position)
        return tokens
    finally:
        store.close()
