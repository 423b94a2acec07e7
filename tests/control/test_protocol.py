"""The protocol without a socket: frame shapes, line splitting, request decoding.

Property tests (hypothesis) check that no input line can make the request decoder do
anything but return a typed request or a clean error frame.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from virtuoso_daemon.control import commands
from virtuoso_daemon.control.peers import PeerCred, PeerPolicy
from virtuoso_daemon.control.registry import (
    Args,
    Context,
    FrameError,
    codec,
    command,
    unregister,
)
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.protocol import (
    MAX_LINE,
    ErrorInfo,
    ErrorReply,
    Event,
    FrameTooLarge,
    Hello,
    LineBuffer,
    Reply,
    Request,
    decode_event_data,
    encode_frame,
)

commands.load_all()


def test_frames_have_the_documented_shapes() -> None:
    assert msgspec.json.decode(encode_frame(Request(id=1, cmd="status"))) == {
        "id": 1,
        "cmd": "status",
        "args": {},
    }
    assert encode_frame(Reply(id=7, result={"a": 1})) == b'{"id":7,"ok":true,"result":{"a":1}}\n'
    err = ErrorReply(id="x", error=ErrorInfo(code="bad_args", message="m"))
    assert encode_frame(err) == (
        b'{"id":"x","ok":false,"error":{"code":"bad_args","message":"m"}}\n'
    )
    tick = Ticker(exchange="b", symbol="S", last=1.0, ts=1, recv_ts=2.0)
    line = encode_frame(Event(topic="tickers", data=tick))
    doc = msgspec.json.decode(line)
    assert set(doc) == {"topic", "data"} and doc["data"]["type"] == "Ticker"
    assert decode_event_data(msgspec.json.encode(doc["data"])) == tick


def test_event_payloads_decode_to_messages_or_plain_data() -> None:
    hello = Hello(protocol=1, version="v", pid=1)
    assert decode_event_data(msgspec.json.encode(hello)) == hello
    assert decode_event_data(b'{"type": "Unknown", "x": 1}') == {"type": "Unknown", "x": 1}
    assert decode_event_data(b"[1, 2]") == [1, 2]


def test_line_buffer_joins_chunks_and_limits_lines() -> None:
    buf = LineBuffer(max_line=10)
    assert buf.feed(b'{"a"') == []
    assert buf.feed(b":1}\n{}\n{") == [b'{"a":1}', b"{}"]
    assert buf.pending == 1
    with pytest.raises(FrameTooLarge):
        buf.feed(b"x" * 10)  # 11 bytes without a newline
    with pytest.raises(FrameTooLarge):
        LineBuffer(max_line=10).feed(b"y" * 11 + b"\n")


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_line_buffer_recovers_the_lines_whatever_the_chunking(
    lines: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    buf = LineBuffer(MAX_LINE)
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out += buf.feed(stream[a:b])
    assert out == lines and buf.pending == 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
@example(b'{"id": 1, "cmd": "st\x80atus"}')  # bad UTF-8 in a string: UnicodeDecodeError
@example(b'{"id": 2, "cmd": "alerts.get", "args": {"id": [[[1]]]}}')  # a query's arguments
def test_any_bytes_decode_to_a_request_or_a_clean_error(line: bytes) -> None:
    try:
        spec, req = codec().decode(line)
    except FrameError as exc:
        codes = {"bad_frame", "unknown_command", "bad_args", "invalid_parameter"}
        assert exc.code in codes and exc.message
        assert exc.request_id is None or isinstance(exc.request_id, int | str)
    else:
        assert spec.name == req.__struct_config__.tag


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    # JSON has no infinity: msgspec writes it as null, which is not the value sent
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    cmd=st.sampled_from([*sorted(codec().specs), "nope", ""]) | json_values,
    rid=json_values,
    args=st.dictionaries(
        st.sampled_from(["exchange", "symbol", "symbols", "limit", "topics", "x"]),
        json_values,
        max_size=4,
    )
    | json_values,
)
def test_any_request_shaped_object_is_typed_or_refused_with_its_id(
    cmd: Any, rid: Any, args: Any
) -> None:
    line = msgspec.json.encode({"id": rid, "cmd": cmd, "args": args})
    try:
        spec, req = codec().decode(line)
    except FrameError as exc:
        valid_id = rid is None or (isinstance(rid, int | str) and not isinstance(rid, bool))
        assert exc.request_id == (rid if valid_id else None)
    else:
        assert spec.name == cmd and req.id == rid and isinstance(req.args, Args)


def test_wrong_argument_types_name_the_field() -> None:
    with pytest.raises(FrameError) as info:
        codec().decode(b'{"id": 3, "cmd": "feeds.pause", "args": {"exchange": 42}}')
    assert info.value.request_id == 3 and info.value.code == "bad_args"
    assert info.value.message == "feeds.pause: exchange: expected str, got int"
    with pytest.raises(FrameError) as info:
        codec().decode(b'{"cmd": "feeds.pause", "args": {"exchang": "x"}}')
    assert info.value.message == "feeds.pause: unknown argument 'exchang'"


def test_a_querys_argument_errors_are_what_http_answers() -> None:
    with pytest.raises(FrameError) as info:
        codec().decode(b'{"id": 3, "cmd": "ohlcv", "args": {"symbol": "X", "limit": "ten"}}')
    assert info.value.request_id == 3 and info.value.code == "invalid_parameter"
    assert info.value.message == "limit: expected `int | null`, got `str`"  # HTTP's words


class EchoArgs(Args, frozen=True):
    text: str
    times: int = 1


async def test_adding_a_command_is_one_decorator() -> None:
    @command("test.echo", args=EchoArgs)
    async def echo(ctx: Context, args: EchoArgs) -> str:
        """Repeat text."""
        return args.text * args.times

    try:
        spec, req = codec().decode(b'{"id": 1, "cmd": "test.echo", "args": {"text": "ab"}}')
        assert spec.help == "Repeat text." and req.args == EchoArgs(text="ab")
        assert await spec.handler(None, req.args) == "ab"  # type: ignore[arg-type]
    finally:
        unregister("test.echo")
    with pytest.raises(FrameError):
        codec().decode(b'{"cmd": "test.echo", "args": {"text": "ab"}}')


def test_peer_policy_allows_own_uid_root_and_the_socket_group_only() -> None:
    policy = PeerPolicy(uid=1000)
    assert policy.allows(PeerCred(pid=1, uid=1000, gid=1000))
    assert policy.allows(PeerCred(pid=1, uid=0, gid=0))
    assert not policy.allows(PeerCred(pid=1, uid=1001, gid=1001))
    grouped = PeerPolicy(uid=1000, group=4242)
    assert grouped.allows(PeerCred(pid=1, uid=1001, gid=4242))
    assert not grouped.allows(PeerCred(pid=1, uid=1001, gid=1001))
    assert "uid 1001" in policy.refusal(PeerCred(pid=9, uid=1001, gid=1001))
