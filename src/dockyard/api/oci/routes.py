"""The whole OCI URL space on one screen. Order matters: more specific paths come first."""

from __future__ import annotations

from starlette.routing import Route

from dockyard.api.oci import blobs, listing, manifests, uploads

N = "/v2/{name:path}"

ROUTES = [
    Route("/v2/", listing.base, methods=["GET", "HEAD"]),
    Route("/v2/_catalog", listing.catalog, methods=["GET"]),
    Route(N + "/tags/list", listing.tags_list, methods=["GET"]),
    Route(N + "/referrers/{digest}", listing.referrers, methods=["GET"]),
    Route(N + "/manifests/{reference}", manifests.get_manifest, methods=["GET", "HEAD"]),
    Route(N + "/manifests/{reference}", manifests.put_manifest, methods=["PUT"]),
    Route(N + "/manifests/{reference}", manifests.delete_manifest, methods=["DELETE"]),
    Route(N + "/blobs/uploads/", uploads.start_upload, methods=["POST"]),
    Route(N + "/blobs/uploads", uploads.start_upload, methods=["POST"]),
    Route(N + "/blobs/uploads/{upload_id}", uploads.patch_upload, methods=["PATCH"]),
    Route(N + "/blobs/uploads/{upload_id}", uploads.put_upload, methods=["PUT"]),
    Route(N + "/blobs/uploads/{upload_id}", uploads.get_upload, methods=["GET"]),
    Route(N + "/blobs/uploads/{upload_id}", uploads.delete_upload, methods=["DELETE"]),
    Route(N + "/blobs/{digest}", blobs.head_or_get_blob, methods=["GET", "HEAD"]),
    Route(N + "/blobs/{digest}", blobs.delete_blob, methods=["DELETE"]),
]
