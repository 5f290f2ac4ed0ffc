"""The message catalogue itself: names, tags, field kinds, helpers."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import msgspec
import msgspec.inspect as mi
import pytest

from hub.protocol import ALL_MESSAGES, BY_EVENT, Message, message_id
from hub.protocol import messages as m
from hub.protocol.messages import EXTENSIONS


def _camel(event: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in event.split("_"))


def test_every_event_is_a_tagged_message_named_after_it() -> None:
    assert len(ALL_MESSAGES) == len(set(ALL_MESSAGES)) == len(BY_EVENT)
    for event, cls in BY_EVENT.items():
        assert issubclass(cls, Message)
        assert cls.__struct_config__.tag_field == "event"
        assert cls.__struct_config__.tag == event
        assert cls.__name__ == _camel(event)
        assert getattr(m, cls.__name__) is cls
        assert re.fullmatch(r"[a-z][a-z0-9_]*", event)


def test_names_from_the_brief() -> None:
    assert BY_EVENT["sign_in"] is m.SignIn
    assert BY_EVENT["error"] is m.Error
    assert BY_EVENT["project_exec_output"] is m.ProjectExecOutput
    assert BY_EVENT["ping"] is m.Ping


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_constructors_are_keyword_only(cls: type[Message]) -> None:
    for f in msgspec.structs.fields(cls):
        assert f.name == f.encode_name  # wire names are the attribute names
    assert cls.__struct_config__.forbid_unknown_fields is False
    if msgspec.structs.fields(cls):
        with pytest.raises(TypeError):
            cls("positional")


def _accepts_null(t: mi.Type) -> bool:
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    return any(isinstance(x, mi.NoneType | mi.AnyType) for x in members)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_no_top_level_field_accepts_null(cls: type[Message]) -> None:
    # The codec relies on this: a top-level null fails the fast decode and is then dropped.
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    for f in info.fields:
        assert not _accepts_null(f.type), f"{cls.__name__}.{f.name} accepts null"


def test_id_fields_are_strings_and_ids_of_accounts_and_projects_are_uuids() -> None:
    uuid_fields = {"account_id", "project_id", "src_project_id", "target_project_id"}
    uuid_fields.add("copy_path_id")
    for cls in ALL_MESSAGES:
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        for f in info.fields:
            members = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
            if f.name == "id":
                assert members == (mi.StrType(),), cls
            elif f.name in uuid_fields:
                assert any(isinstance(x, mi.UUIDType) for x in members), (cls, f.name)


def test_read_text_file_takes_one_file_or_lists() -> None:
    pid = uuid.uuid4()
    one = m.ReadTextFileFromProject(project_id=pid, path="a.txt")
    many = m.ReadTextFileFromProject(project_id=[pid, pid], path=["a", "b"])
    assert one.path == "a.txt" and many.path == ["a", "b"]


def test_extensions() -> None:
    assert set(EXTENSIONS) == {
        "print_to_pdf",
        "account_created",
        "user_auth_token",
        "copy_path_status",
        "copy_path_delete",
        "create_project",
        "project_created",
        "invite_collaborator",
        "remove_collaborator",
        "sagews_execute_code",
        "sagews_output_ack",
        "sagews_interrupt",
        "sagews_quit",
        "sagews_start",
        "terminal_resize",
        "terminal_detach",
        "terminal_exited",
        "terminal_detached",
        "user_search",
        "get_project_users",
    }
    token = m.UserAuthToken(id="r1", auth_token="x" * 24)
    assert token.auth_token == "x" * 24
    created = m.AccountCreated(account_id=uuid.uuid4(), api_key="sk_abc")
    assert created.api_key == "sk_abc"
    assert m.AccountCreated(account_id=uuid.uuid4()).api_key is msgspec.UNSET
    assert m.CopyPathStatus(id="r").id == "r"
    assert m.CopyPathDelete().id is msgspec.UNSET


def test_message_id() -> None:
    assert message_id(m.Ping(id="abc")) == "abc"
    assert message_id(m.Ping()) is None
    assert message_id(m.Heartbeat()) is None  # no id field at all
    assert message_id(m.Version(version=1)) is None
    assert message_id(m.ProjectOpened(id="p")) == "p"


def test_concrete_defaults() -> None:
    q = m.Query(query={})
    assert q.multi_response is False
    exec_ = m.ProjectExec(project_id=uuid.uuid4(), command="ls")
    assert (exec_.path, exec_.args, exec_.timeout, exec_.bash, exec_.err_on_exit) == (
        "",
        [],
        10,
        False,
        True,
    )
    assert exec_.args is not m.ProjectExec(project_id=uuid.uuid4(), command="ls").args
    assert m.ReadFileFromProject(project_id=uuid.uuid4(), path="x").archive == "tar.bz2"
    assert m.Cookies(id="c").url == "/cookies"
    assert m.CopyPathStatus().limit == 1000
    assert m.CopyPathStatus().pending is True
    assert m.StripeCreateSubscription(plan="p").quantity == 1
    note = m.CopyPathBetweenProjectsResponse(id="x").note
    assert note.startswith("Query copy_path_status with the copy_path_id")


def test_datetimes_become_utc() -> None:
    naive = dt.datetime(2024, 5, 6, 7, 8, 9)
    assert m.Pong(now=naive).now == naive.replace(tzinfo=dt.UTC)
    plus2 = dt.timezone(dt.timedelta(hours=2))
    shifted = m.Pong(now=dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=plus2)).now
    assert isinstance(shifted, dt.datetime)
    assert shifted.tzinfo is dt.UTC and shifted.hour == 7
    assert m.Pong().now is msgspec.UNSET
