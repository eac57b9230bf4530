"""Contract cases for the ScanStore port: scan results, inventory cache, job queue."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace

from dockyard.domain.models import Repository, ScanRecord
from dockyard.ports import MetadataStore

from .metadata_support import NOW, fresh_name, make_image


def _scan(image_id: int, status: str = "COMPLETE", **extra: object) -> ScanRecord:
    fields: dict = {"scan_type": "BASIC", "description": "done", "started_at": NOW}
    fields.update(extra)
    return ScanRecord(image_id=image_id, status=status, **fields)


def _key(name: str) -> str:
    """A unique key per test run: documents are shared store-wide, like the keys' content."""
    return hashlib.sha256(fresh_name(name).encode()).hexdigest()[:32]


class ScanCases:
    def test_scan_round_trip_and_replace(self, store: MetadataStore, repo: Repository) -> None:
        image = store.save_image(repo.id, make_image("scanned"), None, False, NOW).image
        assert store.get_scan(image.id) is None
        store.put_scan(_scan(image.id, "IN_PROGRESS"))
        assert store.get_scan(image.id).findings_json == "[]"
        done = _scan(
            image.id, completed_at=NOW + 5, source_updated_at=NOW - 60, severity_counts={"HIGH": 2}
        )
        a, b = _key("a"), _key("b")
        store.put_scan(done, [a, b], {a: '{"id": "CVE-1"}', b: '{"id": "CVE-2"}'})
        expected = replace(done, findings_json='[{"id": "CVE-1"}, {"id": "CVE-2"}]')
        assert store.get_scan(image.id) == expected
        store.put_scan(done, [b])  # a rescan replaces them; b was just stored
        assert store.get_scan(image.id).findings_json == '[{"id": "CVE-2"}]'

    def test_findings_are_shared_and_kept_in_order(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        images = [
            store.save_image(repo.id, make_image(f"f{i}"), None, False, NOW).image for i in range(2)
        ]
        keys = {name: _key(name) for name in "abcd"}
        docs = {keys[name]: f'{{"id": "{name}"}}' for name in "abcd"}
        # More findings than one IN (...) holds, repeating documents, in an order of their own.
        order = [keys["c"], keys["a"], keys["c"], keys["b"]] * 300
        store.put_scan(_scan(images[0].id, completed_at=NOW), order, docs)
        # Documents stored by an earlier scan are named by key alone; new ones come with it.
        store.put_scan(_scan(images[1].id, completed_at=NOW), [keys["d"], keys["b"]],
                       {keys["d"]: docs[keys["d"]]})  # fmt: skip
        text = store.get_scan(images[0].id).findings_json
        assert text == json.dumps([json.loads(docs[key]) for key in order])
        assert text.startswith('[{"id": "c"}, {"id": "a"}, {"id": "c"}, {"id": "b"}, ')
        assert store.get_scan(images[1].id).findings_json == '[{"id": "d"}, {"id": "b"}]'
        # The first document stored under a key stays (keys name content).
        store.put_scan(_scan(images[1].id, completed_at=NOW), [keys["b"]],
                       {keys["b"]: '{"id": "x"}'})  # fmt: skip
        assert store.get_scan(images[1].id).findings_json == '[{"id": "b"}]'

    def test_unused_findings_are_swept(self, store: MetadataStore, repo: Repository) -> None:
        new = [make_image(f"u{i}") for i in range(2)]
        images = [store.save_image(repo.id, n, None, False, NOW).image for n in new]
        kept, replaced, gone = (_key(n) for n in ("kept", "replaced", "gone"))
        store.put_scan(_scan(images[0].id, completed_at=NOW), [kept, replaced],
                       {kept: '"k"', replaced: '"r"'})  # fmt: skip
        store.put_scan(_scan(images[1].id, completed_at=NOW), [gone], {gone: '"g"'})
        store.put_scan(_scan(images[0].id, completed_at=NOW + 10), [kept])
        store.delete_image(repo.id, new[1].digest)
        assert store.delete_unused_findings(NOW) == 0  # unreferenced, but used too recently
        assert store.delete_unused_findings(NOW + 1) == 2  # the replaced one and the image's
        assert store.delete_unused_findings(NOW + 10_000) == 0  # "kept" is referenced
        assert store.get_scan(images[0].id).findings_json == '["k"]'

    def test_old_findings_are_refreshed_by_a_new_scan(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        images = [
            store.save_image(repo.id, make_image(f"r{i}"), None, False, NOW).image for i in range(2)
        ]
        old = _key("old")
        store.put_scan(_scan(images[0].id, completed_at=NOW), [old], {old: '"o"'})
        later = NOW + 3 * 3600
        store.put_scan(_scan(images[1].id, completed_at=later), [old], {old: '"o"'})
        store.put_scan(_scan(images[0].id, completed_at=later), [])
        # Passed again three hours after it was first stored: a sweep of older ones leaves it.
        assert store.delete_unused_findings(later - 3600) == 0
        store.delete_image(repo.id, images[1].digest)
        assert store.delete_unused_findings(later + 1) == 1
        # A scan passing a document a sweep took is stored whole: the document comes back.
        store.put_scan(_scan(images[0].id, completed_at=later + 2 * 3600), [old], {old: '"o"'})
        assert store.get_scan(images[0].id).findings_json == '["o"]'
        # Passed within the hour it was stored: no refresh needed, none made.
        store.put_scan(_scan(images[0].id, completed_at=later + 2.5 * 3600), [old], {old: '"o"'})
        assert store.delete_unused_findings(later + 2 * 3600 + 1) == 0  # still named

    def test_summaries_leave_findings_out(self, store: MetadataStore, repo: Repository) -> None:
        images = [
            store.save_image(repo.id, make_image(f"s{i}"), None, False, NOW).image for i in range(3)
        ]
        for image in images[:2]:
            store.put_scan(_scan(image.id, severity_counts={"LOW": 1}, findings_json="[1]"))
        found = store.scans_for([i.id for i in images])
        assert set(found) == {images[0].id, images[1].id}
        assert found[images[0].id].severity_counts == {"LOW": 1}
        assert found[images[0].id].findings_json == "[]"
        assert store.scans_for([]) == {}

    def test_scans_go_with_their_image(self, store: MetadataStore, repo: Repository) -> None:
        new = make_image("gone")
        image = store.save_image(repo.id, new, None, False, NOW).image
        store.put_scan(_scan(image.id))
        store.delete_image(repo.id, new.digest)
        assert store.get_scan(image.id) is None
        store.put_scan(_scan(image.id))  # a scan finishing after the delete is dropped
        assert store.get_scan(image.id) is None

    def test_scanned_images_by_type(self, store: MetadataStore, repo: Repository) -> None:
        images = [
            store.save_image(repo.id, make_image(f"e{i}"), None, False, NOW).image for i in range(4)
        ]
        for i, image in enumerate(images):
            store.put_scan(_scan(image.id, scan_type="ENHANCED" if i % 2 else "BASIC"))
        enhanced = store.scanned_images("ENHANCED", 0, 10)
        assert [row[0] for row in enhanced] == [images[1].id, images[3].id]
        assert enhanced[0][1:] == (repo.id, images[1].digest)
        assert store.scanned_images("ENHANCED", images[1].id, 10)[0][0] == images[3].id

    def test_inventory_cache(self, store: MetadataStore) -> None:
        digest = "sha256:" + fresh_name("inv").encode().hex().ljust(64, "0")[:64]
        assert store.get_inventory(digest) is None
        store.put_inventory(digest, '{"packages": []}')
        store.put_inventory(digest, '{"other": 1}')  # content-addressed: the first one stays
        assert store.get_inventory(digest) == '{"packages": []}'

    def test_jobs_are_enqueued_in_one_go(self, store: MetadataStore) -> None:
        store.enqueue_jobs("scan", [], NOW)
        store.enqueue_jobs("scan", ["x", "y", "z"], NOW)
        claimed = store.claim_jobs("w", NOW, 60, 10)
        assert [job.payload for job in claimed] == ["x", "y", "z"]
        store.finish_jobs([job.id for job in claimed])
        assert store.claim_jobs("w", NOW + 1000, 60, 10) == []

    def test_jobs_are_claimed_once_and_finished(self, store: MetadataStore) -> None:
        first = store.enqueue_job("scan", "a", NOW)
        second = store.enqueue_job("scan", "b", NOW)
        [job] = store.claim_jobs("w1", NOW, 60, 1)
        assert (job.id, job.payload, job.attempts) == (first, "a", 1)
        assert [j.id for j in store.claim_jobs("w2", NOW + 1, 60, 5)] == [second]
        assert store.claim_jobs("w3", NOW + 2, 60, 5) == []
        # The first holder died: after its lease the job can be taken again.
        [retried] = store.claim_jobs("w3", NOW + 61, 60, 5)
        assert (retried.id, retried.attempts) == (first, 2)
        store.finish_jobs([first, second])
        assert store.claim_jobs("w4", NOW + 1000, 60, 5) == []

    def test_a_job_is_given_up_after_three_attempts(self, store: MetadataStore) -> None:
        job_id = store.enqueue_job("scan", "poison", NOW)
        for attempt in (1, 2, 3):
            [job] = store.claim_jobs("w", NOW + 100 * attempt, 60, 5)
            assert (job.id, job.attempts) == (job_id, attempt)
        assert store.claim_jobs("w", NOW + 1000, 60, 5) == []
        store.finish_jobs([job_id])

    def test_concurrent_claimers_never_share_a_job(self, store: MetadataStore) -> None:
        ids = {store.enqueue_job("scan", str(n), NOW) for n in range(40)}
        taken: list[int] = []
        lock = threading.Lock()

        def worker(name: str) -> None:
            while jobs := store.claim_jobs(name, NOW, 600, 3):
                with lock:
                    taken.extend(job.id for job in jobs)
                store.finish_jobs([job.id for job in jobs])

        threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(taken) == sorted(ids)
