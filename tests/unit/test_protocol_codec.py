"""The codec: bytes to structs and back, and every error text a client can see."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from hub.protocol import (
    ALL_MESSAGES,
    BY_EVENT,
    DecodeError,
    Message,
    decode_api_params,
    decode_client_frame,
    encode,
    encode_error,
)
from hub.protocol import messages as m

UID = uuid.UUID("6f1c1d9e-2b7a-4c55-9a0e-3d2f4b5c6a7e")
UID2 = uuid.UUID("0b8f3a4c-5d6e-4f70-8192-a3b4c5d6e7f8")
WHEN = dt.datetime(2024, 2, 29, 12, 30, 45, 123000, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- sample messages


def _sample(t: mi.Type) -> Any:
    """A value of type `t`, built from msgspec's description of it."""
    if isinstance(t, mi.UnionType):
        return _sample(t.types[0])
    if isinstance(t, mi.StrType):
        return "text ✓"
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        return 7
    if isinstance(t, mi.FloatType):
        return 2.5
    if isinstance(t, mi.UUIDType):
        return UID
    if isinstance(t, mi.DateTimeType):
        return WHEN
    if isinstance(t, mi.ListType):
        return [_sample(t.item_type)]
    if isinstance(t, mi.DictType):
        return {"k": _sample(t.value_type)}
    if isinstance(t, mi.AnyType):
        return {"nested": [1, "two", None, {"x": False}]}
    raise AssertionError(f"no sample for {t}")


def full(cls: type[Message]) -> Message:
    """`cls` with every field set."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return cls(**{f.name: _sample(f.type) for f in info.fields})


def minimal(cls: type[Message]) -> Message:
    """`cls` with only its required fields set."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return cls(**{f.name: _sample(f.type) for f in info.fields if f.required})


def _frame(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def _error(data: bytes | str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_client_frame(data)
    return info.value


def _api_error(event: str, params: dict[str, Any], *, from_form: bool = False) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_api_params(event, params, from_form=from_form)
    return info.value


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_every_event_round_trips(cls: type[Message]) -> None:
    for msg in (full(cls), minimal(cls)):
        data = encode(msg)
        assert decode_client_frame(data) == msg
        assert decode_client_frame(data.decode()) == msg
        as_dict = msgspec.json.decode(data)
        assert as_dict["event"] == cls.__struct_config__.tag
        del as_dict["event"]
        assert decode_api_params(str(cls.__struct_config__.tag), as_dict, from_form=False) == msg


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_encoding_omits_unset_and_keeps_concrete_defaults(cls: type[Message]) -> None:
    encoded = msgspec.json.decode(encode(minimal(cls)))
    assert next(iter(encoded)) == "event"
    for f in msgspec.structs.fields(cls):
        if f.required:
            assert f.name in encoded
        elif f.default is msgspec.UNSET:
            assert f.name not in encoded
        else:
            assert f.name in encoded


def test_query_encodes_its_default() -> None:
    assert encode(m.Query(query={})) == b'{"event":"query","query":{},"multi_response":false}'
    assert b'"multi_response":false' in encode(m.Query(query={}))
    assert encode(m.Ping()) == b'{"event":"ping"}'
    assert encode(m.Heartbeat()) == b'{"event":"heartbeat"}'


def test_dates_and_uuids_on_the_wire() -> None:
    data = json.loads(encode(m.Pong(id="p", now=WHEN)))
    assert data == {"event": "pong", "id": "p", "now": "2024-02-29T12:30:45.123000Z"}
    naive = json.loads(encode(m.Pong(now=dt.datetime(2024, 1, 2, 3, 4, 5))))
    assert naive["now"] == "2024-01-02T03:04:05Z"
    created = json.loads(encode(m.AccountCreated(account_id=UID)))
    assert created["account_id"] == str(UID)
    scheduled = decode_client_frame(
        _frame(
            event="copy_path_between_projects",
            src_project_id=str(UID),
            src_path="a",
            target_project_id=str(UID2),
            scheduled="2030-01-01T10:00:00",
        )
    )
    assert isinstance(scheduled, m.CopyPathBetweenProjects)
    assert scheduled.scheduled == dt.datetime(2030, 1, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE accounts; --",
        '" OR "1"="1',
        "<script>alert('x')</script>",
        "${jndi:ldap://example.com/a}",
        "../../etc/passwd",
        "line\nbreak\ttab\r\x00nul\x1f",
        "ünïcødé — 中文 — العربية — 🎉👩‍💻",
        "\u2028\u2029",
        '\\u0000 \\" backslashes \\',
        "",
        "x" * 100_000,
    ],
)
def test_awkward_strings_survive(text: str) -> None:
    msg = m.SignIn(id=text, email_address=text, password=text)
    assert decode_client_frame(encode(msg)) == msg
    assert (
        decode_api_params(
            "sign_in", {"id": text, "email_address": text, "password": text}, from_form=True
        )
        == msg
    )
    err = decode_client_frame(encode_error(text, text))
    assert err == m.Error(id=text, error=text)


def test_encode_error() -> None:
    assert json.loads(encode_error("boom", "r1")) == {"event": "error", "id": "r1", "error": "boom"}
    assert json.loads(encode_error("boom", None)) == {"event": "error", "error": "boom"}


# --------------------------------------------------------------------------- WebSocket frames


def test_fields_are_checked() -> None:
    msg = decode_client_frame(_frame(event="sign_in", id="r", email_address="a@b.c", password="p"))
    assert msg == m.SignIn(id="r", email_address="a@b.c", password="p", remember_me=False)
    assert isinstance(msg, m.SignIn)


def test_missing_required_field() -> None:
    err = _error(_frame(event="sign_in", id="r1", email_address="a@b.c"))
    assert err.text == "missing required field 'password'"
    assert (err.kind, err.id, err.event) == ("invalid", "r1", "sign_in")
    assert str(err) == err.text


def test_wrong_type() -> None:
    err = _error(_frame(event="sign_in", id="r2", email_address=5, password="p"))
    assert err.text == "expected str, got int at $.email_address"
    assert (err.kind, err.id, err.event) == ("invalid", "r2", "sign_in")


def test_nested_wrong_type() -> None:
    err = _error(_frame(event="project_exec", project_id=str(UID), command="ls", args=["a", 1]))
    assert err.text == "expected str, got int at $.args[1]"


def test_invalid_uuid() -> None:
    err = _error(_frame(event="delete_account", id="r3", account_id="not-a-uuid"))
    assert err.text == "invalid UUID at $.account_id"
    assert (err.kind, err.id) == ("invalid", "r3")


def test_invalid_datetime() -> None:
    err = _error(_frame(event="pong", now="yesterday"))
    assert err.text.startswith("invalid ") and err.text.endswith(" at $.now")
    assert "`" not in err.text


def test_null_counts_as_absent() -> None:
    assert decode_client_frame(b'{"event":"ping","id":null}') == m.Ping()
    msg = decode_client_frame(b'{"event":"query","id":"q","query":{"a":null},"options":null}')
    assert msg == m.Query(id="q", query={"a": None})  # nested nulls are data
    err = _error(_frame(event="sign_in", id="r4", email_address="a@b.c", password=None))
    assert err.text == "missing required field 'password'"
    assert err.id == "r4"
    # A null for a field with a concrete default gives the default.
    out = decode_client_frame(_frame(event="query", query={}, multi_response=None))
    assert isinstance(out, m.Query) and out.multi_response is False


def test_event_need_not_come_first() -> None:
    frame = b'{"id":"x","password":"p","email_address":"e","event":"sign_in"}'
    assert decode_client_frame(frame) == m.SignIn(id="x", email_address="e", password="p")


def test_unknown_fields_are_ignored_on_the_websocket() -> None:
    assert decode_client_frame(_frame(event="ping", id="x", extra={"a": 1})) == m.Ping(id="x")


def test_unknown_event() -> None:
    err = _error(_frame(event="launch_rockets", id="r5"))
    assert err.text == "Hub does not know how to handle a 'launch_rockets' event."
    assert (err.kind, err.id, err.event) == ("unknown_event", "r5", "launch_rockets")


@pytest.mark.parametrize(
    "data",
    [b"[1, 2]", b'"ping"', b"42", b"null", b"{}", b'{"id": "r6"}', b'{"event": null}'],
)
def test_no_event(data: bytes) -> None:
    err = _error(data)
    assert err.text == "message must be a JSON object with an 'event' field"
    assert err.kind == "no_event" and err.event is None


def test_event_must_be_a_string() -> None:
    err = _error(b'{"event": 5, "id": "r7"}')
    assert (err.kind, err.id) == ("no_event", "r7")


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"event": "ping",', b"{event: ping}", b"\xff\xfe", b'{"event":"ping"} x'],
)
def test_malformed_json(data: bytes) -> None:
    err = _error(data)
    assert err.kind == "json"
    assert err.text.startswith("malformed JSON: ") and len(err.text) > len("malformed JSON: ")
    assert err.event is None


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    err = _error(b'{"event":"query","id":"d1","query":' + deep + b"}")
    assert err.kind == "json" and err.text == "malformed JSON: nested too deeply"
    assert err.id == "d1"
    assert _error(b"[" * 100_000).kind == "json"
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]
    # Already-parsed deep data under a free-form field is passed through untouched.
    assert decode_api_params("query", {"query": nested}, from_form=False) == m.Query(query=nested)


def test_lone_surrogate_in_text_frame_is_malformed() -> None:
    assert _error('{"event":"ping","id":"\ud800"}').kind == "json"


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b'{"event":"sign_in","id":"abc","password":3}', "abc"),  # invalid fields
        (b'{"event":"sign_in","id":17,"password":"p","email_address":"e"}', "17"),  # int id
        (b'{"event":"sign_in","id":true,"password":"p"}', None),  # bool is not an id
        (b'{"event":"sign_in","id":1.5,"password":"p"}', None),
        (b'{"event":"sign_in","id":["a"],"password":"p"}', None),
        (b'{"event":"nope","id":"u1"}', "u1"),  # unknown event
        (b'{"id":"n1"}', "n1"),  # no event
        (b'{"id": "t1", "event": "ping", ', "t1"),  # truncated JSON
        (b'{"id": 99, "event": ', "99"),
        (b'{"id": "esc\\"aped", bad', 'esc"aped'),
        (b"not json at all", None),
    ],
)
def test_ids_are_recovered_from_bad_messages(data: bytes, want: str | None) -> None:
    assert _error(data).id == want


def test_int_id_is_not_accepted_as_is() -> None:
    err = _error(b'{"event":"ping","id":17}')
    assert err.text == "expected str, got int at $.id"
    assert err.id == "17"


# --------------------------------------------------------------------------- HTTP API parameters


def test_api_params_json() -> None:
    msg = decode_api_params(
        "project_exec",
        {"project_id": str(UID), "command": "echo", "args": ["a", "b"], "timeout": 2.5},
        from_form=False,
    )
    assert msg == m.ProjectExec(project_id=UID, command="echo", args=["a", "b"], timeout=2.5)


def test_api_params_unknown_parameter() -> None:
    err = _api_error("ping", {"id": "r1", "foo": 1})
    assert err.text == "unknown parameter 'foo'"
    assert (err.kind, err.id, err.event) == ("invalid", "r1", "ping")
    assert _api_error("ping", {"foo": "1"}, from_form=True).text == "unknown parameter 'foo'"


def test_api_params_event_is_not_a_parameter() -> None:
    err = _api_error("ping", {"event": "ping"})
    assert err.text == "unknown parameter 'event'"
    assert err.kind == "invalid"


def test_api_params_null_is_absent() -> None:
    assert decode_api_params("ping", {"id": None}, from_form=False) == m.Ping()
    err = _api_error("sign_in", {"email_address": "a@b.c", "password": None})
    assert err.text == "missing required field 'password'"


def test_api_params_are_strict_about_types_in_json() -> None:
    err = _api_error("project_exec", {"project_id": str(UID), "command": "ls", "bash": "true"})
    assert err.text == "expected bool, got str at $.bash"
    err = _api_error("user_auth", {"id": "q", "account_id": "zz", "password": "p"})
    assert (err.text, err.id) == ("invalid UUID at $.account_id", "q")


def test_api_params_unknown_event() -> None:
    err = _api_error("launch_rockets", {"id": "r9"})
    assert err.text == "Hub does not know how to handle a 'launch_rockets' event."
    assert (err.kind, err.id, err.event) == ("unknown_event", "r9", "launch_rockets")


def test_api_params_do_not_check_api_membership() -> None:
    # The transport decides what is part of the HTTP API; the codec decodes any event.
    assert decode_api_params("heartbeat", {}, from_form=False) == m.Heartbeat()


def test_form_coercion_of_scalars() -> None:
    msg = decode_api_params(
        "project_exec",
        {
            "id": "f1",
            "project_id": str(UID),
            "command": "ls",
            "timeout": "3",
            "bash": "true",
            "err_on_exit": "false",
            "max_output": "100",
        },
        from_form=True,
    )
    assert msg == m.ProjectExec(
        id="f1",
        project_id=UID,
        command="ls",
        timeout=3,
        bash=True,
        err_on_exit=False,
        max_output=100,
    )
    assert isinstance(msg, m.ProjectExec) and type(msg.timeout) is int
    half = decode_api_params(
        "project_exec", {"project_id": str(UID), "command": "x", "timeout": "0.5"}, from_form=True
    )
    assert isinstance(half, m.ProjectExec) and half.timeout == 0.5


def test_form_strings_stay_strings() -> None:
    msg = decode_api_params(
        "create_account",
        {"first_name": "123", "password": "true", "email_address": "[a@b.c]"},
        from_form=True,
    )
    assert msg == m.CreateAccount(first_name="123", password="true", email_address="[a@b.c]")


def test_form_bad_number() -> None:
    err = _api_error(
        "project_exec", {"project_id": str(UID), "command": "ls", "timeout": "soon"}, from_form=True
    )
    assert err.text == "expected int | float, got str at $.timeout"


def test_form_lists() -> None:
    base = {"project_id": str(UID), "command": "echo"}
    many = decode_api_params("project_exec", {**base, "args": ["a", "b"]}, from_form=True)
    assert isinstance(many, m.ProjectExec) and many.args == ["a", "b"]
    one = decode_api_params("project_exec", {**base, "args": "solo"}, from_form=True)
    assert isinstance(one, m.ProjectExec) and one.args == ["solo"]
    as_json = decode_api_params("project_exec", {**base, "args": '["x", "y"]'}, from_form=True)
    assert isinstance(as_json, m.ProjectExec) and as_json.args == ["x", "y"]
    not_json = decode_api_params("project_exec", {**base, "args": "[abc"}, from_form=True)
    assert isinstance(not_json, m.ProjectExec) and not_json.args == ["[abc"]


def test_form_one_or_many_files() -> None:
    one = decode_api_params(
        "read_text_file_from_project", {"project_id": str(UID), "path": "a.txt"}, from_form=True
    )
    assert one == m.ReadTextFileFromProject(project_id=UID, path="a.txt")
    many = decode_api_params(
        "read_text_file_from_project",
        {"project_id": [str(UID), str(UID2)], "path": ["a", "b"]},
        from_form=True,
    )
    assert many == m.ReadTextFileFromProject(project_id=[UID, UID2], path=["a", "b"])


def test_form_json_objects() -> None:
    msg = decode_api_params("query", {"query": '{"projects": {"title": null}}'}, from_form=True)
    assert msg == m.Query(query={"projects": {"title": None}})
    bad = _api_error("query", {"query": "projects"}, from_form=True)
    assert bad.text.startswith("expected object | array, got str")
    info = decode_api_params("purchase_license", {"info": '{"quantity": 2}'}, from_form=True)
    assert info == m.PurchaseLicense(info={"quantity": 2})
    # A field that may hold any JSON value keeps the text as text.
    tracked = decode_api_params("user_tracking", {"evt": "e", "value": "[1]"}, from_form=True)
    assert tracked == m.UserTracking(evt="e", value="[1]")


def test_form_dates() -> None:
    msg = decode_api_params(
        "copy_path_between_projects",
        {
            "src_project_id": str(UID),
            "src_path": "a",
            "target_project_id": str(UID2),
            "scheduled": "2030-05-06T07:08:09Z",
            "wait_until_done": "false",
        },
        from_form=True,
    )
    assert isinstance(msg, m.CopyPathBetweenProjects)
    assert msg.scheduled == dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def test_api_ids() -> None:
    assert _api_error("ping", {"id": 5, "x": 1}).id == "5"
    assert _api_error("ping", {"id": ["a", "b"], "x": 1}).id is None
    err = _api_error("ping", {"id": 5})
    assert (err.text, err.id) == ("expected str, got int at $.id", "5")


def test_every_event_known_to_api_decoding() -> None:
    for event in BY_EVENT:
        msg = minimal(BY_EVENT[event])
        params = msgspec.to_builtins(msg)
        params.pop("event")
        assert decode_api_params(event, params, from_form=False) == msg
