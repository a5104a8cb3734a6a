"""``POST /legacy/``: the upload API that twine, uv, pdm and poetry speak."""

from __future__ import annotations

import os

from pyramid.response import Response
from pyramid.view import view_config

from warehouse.accounts.security import AuthenticationFailed
from warehouse.admin.flags import flags_of
from warehouse.packaging.interfaces import IProjectService
from warehouse.scanning.uploads import upload_scanner
from warehouse.storage.interfaces import IFileStorage
from warehouse.upload.errors import UploadError
from warehouse.upload.limits import cap_request_body
from warehouse.upload.metadata import parse_upload_form
from warehouse.upload.services import UploadRequest, UploadService

# Form parts that are not metadata: the file itself and signatures we do not keep.
NON_METADATA_FIELDS = {"content", "gpg_signature", "attestations"}


def error_response(exc: UploadError) -> Response:
    # Clients print the reason phrase (twine) or the body (uv): both carry the sentence.
    return Response(
        status=f"{exc.status} {exc.message}",
        body=(exc.message + "\n").encode("utf-8"),
        content_type="text/plain",
        charset="utf-8",
    )


def _read_form(request):
    cap_request_body(request)
    post = request.POST
    content = post.get("content")
    if content is None or not hasattr(content, "file"):
        raise UploadError("Upload payload does not have a file.")
    filename = os.path.basename(content.filename or "").strip()
    if not filename:
        raise UploadError("Upload payload does not have a file name.")
    fields = {key: post.getall(key) for key in post.keys() if key not in NON_METADATA_FIELDS}
    # Non-file values only: a stray file part under a metadata name is a malformed request.
    for key, values in fields.items():
        if any(not isinstance(value, str) for value in values):
            raise UploadError(f"The field {key!r} must be text, not a file.")
    return fields, content.file, filename


@view_config(route_name="legacy.upload", request_method="POST", require_csrf=False)
def upload(request):
    try:
        try:
            identity = request.identity
        except AuthenticationFailed as exc:
            raise UploadError(exc.reason, status=403) from None
        fields, content, filename = _read_form(request)
        form = parse_upload_form(fields)
        outcome = request.find_service(UploadService).upload(
            UploadRequest(
                identity=identity,
                form=form,
                content=content,
                filename=filename,
                uploaded_via=request.user_agent,
            )
        )
    except UploadError as exc:
        request.tm.doom()
        return error_response(exc)
    if outcome.duplicate:
        request.tm.doom()  # nothing to write
    return Response("OK\n", content_type="text/plain")


@view_config(route_name="legacy.upload", request_method=("GET", "HEAD"))
def upload_form_get(request):
    return Response(
        status="405 Method Not Allowed",
        body=b"The upload API accepts POST requests (twine upload, uv publish).\n",
        content_type="text/plain",
        headers={"Allow": "POST"},
    )


def upload_service_factory(context, request) -> UploadService:
    settings = request.registry.settings["warehouse"]
    return UploadService(
        request.db,
        settings,
        request.find_service(IFileStorage),
        request.find_service(IProjectService),
        request.ratelimiter("upload"),
        request.ratelimiter("new-project"),
        refusal=flags_of(request.registry).refusal,
        scan=upload_scanner(request),
    )


def includeme(config) -> None:
    config.register_service_factory(upload_service_factory, UploadService)
    # twine and uv post to the URL they are given; accept it with or without the slash.
    config.add_route("legacy.upload", "/legacy{slash:/?}")
    config.scan(__name__)
