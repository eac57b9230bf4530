"""Contract cases for the ScanStore port: scan results, inventory cache, job queue."""

from __future__ import annotations

import threading

from dockyard.domain.models import Repository, ScanRecord
from dockyard.ports import MetadataStore

from .metadata_support import NOW, fresh_name, make_image


def _scan(image_id: int, status: str = "COMPLETE", **extra: object) -> ScanRecord:
    fields: dict = {"scan_type": "BASIC", "description": "done", "started_at": NOW}
    fields.update(extra)
    return ScanRecord(image_id=image_id, status=status, **fields)


class ScanCases:
    def test_scan_round_trip_and_replace(self, store: MetadataStore, repo: Repository) -> None:
        image = store.save_image(repo.id, make_image("scanned"), None, False, NOW).image
        assert store.get_scan(image.id) is None
        store.put_scan(_scan(image.id, "IN_PROGRESS"))
        done = _scan(image.id, completed_at=NOW + 5, source_updated_at=NOW - 60,
                     severity_counts={"HIGH": 2}, findings_json='[{"id": "CVE-1"}]')
        store.put_scan(done)
        assert store.get_scan(image.id) == done

    def test_summaries_leave_findings_out(self, store: MetadataStore, repo: Repository) -> None:
        images = [store.save_image(repo.id, make_image(f"s{i}"), None, False, NOW).image
                  for i in range(3)]
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
        images = [store.save_image(repo.id, make_image(f"e{i}"), None, False, NOW).image
                  for i in range(4)]
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

    def test_jobs_are_claimed_once_and_finished(self, store: MetadataStore) -> None:
        first = store.enqueue_job("scan", "a", NOW)
        second = store.enqueue_job("scan", "b", NOW)
        job = store.claim_job("w1", NOW, 60)
        assert (job.id, job.payload, job.attempts) == (first, "a", 1)
        assert store.claim_job("w2", NOW + 1, 60).id == second
        assert store.claim_job("w3", NOW + 2, 60) is None
        # The first holder died: after its lease the job can be taken again.
        retried = store.claim_job("w3", NOW + 61, 60)
        assert (retried.id, retried.attempts) == (first, 2)
        store.finish_job(first)
        store.finish_job(second)
        assert store.claim_job("w4", NOW + 1000, 60) is None

    def test_concurrent_claimers_never_share_a_job(self, store: MetadataStore) -> None:
        ids = {store.enqueue_job("scan", str(n), NOW) for n in range(20)}
        taken: list[int] = []
        lock = threading.Lock()

        def worker(name: str) -> None:
            while (job := store.claim_job(name, NOW, 600)) is not None:
                with lock:
                    taken.append(job.id)
                store.finish_job(job.id)

        threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(taken) == sorted(ids)
