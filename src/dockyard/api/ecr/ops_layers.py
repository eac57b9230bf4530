"""ECR layer operations, on the same upload state machine as `/v2/` uploads."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call
from dockyard.domain.errors import ParameterInvalid
from dockyard.services.placement import bounded

Params = dict[str, Any]
PART_SIZE = 10 * 1024 * 1024


def initiate_layer_upload(call: Call, p: Params) -> Params:
    upload = call.services.uploads.start(call.account(p), p["repositoryName"])
    return {"uploadId": upload.id, "partSize": PART_SIZE}


async def upload_layer_part(call: Call, p: Params) -> Params:
    account, name = call.account(p), p["repositoryName"]
    upload = await call.services.uploads.upload_part(
        account, name, p["uploadId"], p["partFirstByte"], p["partLastByte"], p["layerPartBlob"]
    )
    return {
        "registryId": account,
        "repositoryName": name,
        "uploadId": upload.id,
        "lastByteReceived": upload.size - 1,
    }


async def complete_layer_upload(call: Call, p: Params) -> Params:
    account, name = call.account(p), p["repositoryName"]
    if len(p["layerDigests"]) != 1:
        raise ParameterInvalid(
            "Invalid parameter at 'layerDigests' failed to satisfy "
            "constraint: 'Member must have exactly one digest'"
        )
    digest = await call.services.uploads.complete_layer(
        account, name, p["uploadId"], p["layerDigests"][0]
    )
    return {
        "registryId": account,
        "repositoryName": name,
        "uploadId": p["uploadId"],
        "layerDigest": str(digest),
    }


@bounded
def batch_check_layer_availability(call: Call, p: Params) -> Params:
    layers, failures = [], []
    for digest, size, problem, availability in call.services.blobs.availability(
        call.account(p), p["repositoryName"], p["layerDigests"]
    ):
        if problem:
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "InvalidLayerDigest",
                    "failureReason": problem,
                }
            )
        else:
            layers.append(
                {"layerDigest": digest, "layerSize": size, "layerAvailability": availability}
            )
    return {"layers": layers, "failures": failures}


@bounded
def get_download_url_for_layer(call: Call, p: Params) -> Params:
    svc, account, name, digest = (
        call.services,
        call.account(p),
        p["repositoryName"],
        p["layerDigest"],
    )
    read = svc.blobs.download_url(account, name, digest)
    url = read.redirect_url or call.base_url + svc.auth.signed_blob_path(account, name, digest)
    return {"downloadUrl": url, "layerDigest": digest}
