"""Projects: create, share, open, and this hub's links to them."""

from __future__ import annotations

from hub.db import accounts, projects
from hub.errors import BadRequest, PermissionDenied
from hub.handlers.accounts import NAME_MAX, clean_text
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol.messages import (
    CreateProject,
    DisconnectFromProject,
    InviteCollaborator,
    OpenProject,
    ProjectCreated,
    ProjectOpened,
    ProjectsRunningOnServer,
    RemoveCollaborator,
    Success,
)

routes = Routes()

DESCRIPTION_MAX = 10_000


@routes.handler(CreateProject, not_signed_in_text="You must be signed in to create a new project.")
async def create_project(msg: CreateProject, ctx: Context) -> ProjectCreated:
    identity = ctx.identity
    assert identity is not None
    if identity.project_id is not None:
        raise PermissionDenied("a project-scoped API key cannot create projects")
    project_id = await projects.create(
        ctx.hub.db,
        identity.account_id,
        clean_text(msg.title, NAME_MAX) or "",
        clean_text(msg.description, DESCRIPTION_MAX) or "",
    )
    if msg.start:
        await ctx.hub.projects.get(project_id)
    return ProjectCreated(id=msg.id, project_id=project_id)


@routes.handler(InviteCollaborator)
async def invite_collaborator(msg: InviteCollaborator, ctx: Context) -> Success:
    await require(ctx, msg.project_id, "write")
    invited = await accounts.by_id(ctx.hub.db, msg.account_id)
    if invited is None or invited.deleted:
        raise BadRequest(f"no such account {msg.account_id}")
    await projects.add_user(ctx.hub.db, msg.project_id, msg.account_id, projects.COLLABORATOR)
    ctx.hub.access_cache.forget(msg.account_id, msg.project_id)
    return Success(id=msg.id)


@routes.handler(RemoveCollaborator)
async def remove_collaborator(msg: RemoveCollaborator, ctx: Context) -> Success:
    await require(ctx, msg.project_id, "write")
    group = await projects.group_of(ctx.hub.db, msg.project_id, msg.account_id)
    if group == projects.OWNER:
        raise PermissionDenied(f"cannot remove the owner of project {msg.project_id}")
    await projects.remove_user(ctx.hub.db, msg.project_id, msg.account_id)
    ctx.hub.access_cache.forget(msg.account_id, msg.project_id)
    return Success(id=msg.id)


@routes.handler(OpenProject)
async def open_project(msg: OpenProject, ctx: Context) -> ProjectOpened:
    await require(ctx, msg.project_id, "write")
    await ctx.hub.projects.get(msg.project_id)
    return ProjectOpened(id=msg.id)


@routes.handler(DisconnectFromProject)
async def disconnect_from_project(msg: DisconnectFromProject, ctx: Context) -> Success:
    await require(ctx, msg.project_id, "write")
    await ctx.hub.projects.disconnect(msg.project_id)
    return Success(id=msg.id)


@routes.handler(ProjectsRunningOnServer)
async def projects_running_on_server(
    msg: ProjectsRunningOnServer, ctx: Context
) -> ProjectsRunningOnServer:
    """The projects this hub has a link to; a non-admin sees only those it may read."""
    identity = ctx.identity
    assert identity is not None
    linked = ctx.hub.projects.linked()
    if not identity.is_admin:
        visible = []
        for project_id in linked:
            if identity.project_id not in (None, project_id):
                continue
            group = await projects.group_of(ctx.hub.db, project_id, identity.account_id)
            if group is not None:
                visible.append(project_id)
        linked = visible
    return ProjectsRunningOnServer(id=msg.id, projects=[str(p) for p in linked])
