"""`GET /blobs/<uuid>` downloads an archive made by read_file_from_project;
`POST /blobs` uploads bytes for write_file_to_project.

Both need a signed-in caller: an API key (as for /api/v1) or the remember-me
cookie. A download also needs read access to the blob's project, now.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec
from aiohttp import web

from hub.auth.api_keys import authenticate_api_key
from hub.auth.remember_me import authenticate_cookie
from hub.db import blobs, projects
from hub.errors import AuthRequired, HubError
from hub.handlers.context import Identity
from hub.projects.access import READ_GROUPS
from hub.transport.http_api import api_key_from_header

if TYPE_CHECKING:
    from hub.state import HubState

JSON = "application/json"


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(body), content_type=JSON)


class BlobRoutes:
    def __init__(self, hub: HubState) -> None:
        self.hub = hub

    async def _identity(self, request: web.Request) -> Identity:
        key = api_key_from_header(request.headers.get("Authorization"))
        if key is not None:
            return await authenticate_api_key(self.hub, key)
        cookie = request.cookies.get(self.hub.settings.cookie_name)
        if cookie:
            result = await authenticate_cookie(self.hub, cookie)
            if isinstance(result, Identity):
                return result
        raise AuthRequired("sign in (cookie) or send an API key to use blobs")

    async def download(self, request: web.Request) -> web.StreamResponse:
        try:
            blob_id = UUID(request.match_info["blob_id"])
        except ValueError:
            return _json(404, {"error": "no such blob"})
        try:
            identity = await self._identity(request)
            blob = await blobs.get(self.hub.db, blob_id)
            if blob is None:
                return _json(404, {"error": "no such blob (unknown or expired)"})
            if not await self._may_read(identity, blob.project_id, blob.account_id):
                return _json(404, {"error": "no such blob (unknown or expired)"})
        except AuthRequired as exc:
            return _json(401, {"error": exc.text})
        except HubError as exc:
            return _json(exc.http_status, {"error": exc.text})
        name = (blob.name or str(blob_id)).replace('"', "")
        return web.Response(
            body=blob.data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def _may_read(
        self, identity: Identity, project_id: UUID | None, owner: UUID | None
    ) -> bool:
        if identity.is_admin:
            return True
        if project_id is None:
            return owner == identity.account_id
        if identity.project_id is not None and identity.project_id != project_id:
            return False
        group = await projects.group_of(self.hub.db, project_id, identity.account_id)
        return group in READ_GROUPS

    async def upload(self, request: web.Request) -> web.Response:
        limit = self.hub.settings.blob_upload_max_bytes
        try:
            identity = await self._identity(request)
        except AuthRequired as exc:
            return _json(401, {"error": exc.text})
        except HubError as exc:
            return _json(exc.http_status, {"error": exc.text})
        if request.content_length is not None and request.content_length > limit:
            return _json(413, {"error": f"upload is larger than {limit} bytes"})
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                return _json(413, {"error": f"upload is larger than {limit} bytes"})
        blob_id = uuid.uuid4()
        try:
            await blobs.save(
                self.hub.db,
                blob_id,
                bytes(body),
                ttl_s=self.hub.settings.blob_ttl_s,
                account_id=identity.account_id,
                name=request.query.get("name"),
            )
        except HubError as exc:
            return _json(exc.http_status, {"error": exc.text})
        return _json(200, {"uuid": str(blob_id), "size": len(body)})
