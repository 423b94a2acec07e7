"""The command registry: one decorator per command, one tagged-union decoder for all.

Adding a command is one small step::

    class AckArgs(Args):
        id: str

    @command("alerts.ack", args=AckArgs)
    async def alerts_ack(ctx: Context, args: AckArgs) -> dict[str, Any]:
        \"\"\"Acknowledge an alert.\"\"\"          # the first line is the help text
        return await ctx.ask(Topics.ALERT_COMMANDS, args)

or, for a command that is only a request to the actor that owns it (``AckAlert`` is
a tagged request struct of that actor's union, see :mod:`virtuoso_daemon.core.requests`;
it is forwarded as decoded)::

    forward("alerts.ack", Topics.ALERT_COMMANDS, args=AckAlert, help="Acknowledge an alert.")

in a module under ``actors/control/commands/`` (every module there is imported when
the server starts). Arguments are msgspec Structs: the request is decoded straight
into them, so a wrong type, a missing or an unknown field is a clean ``bad_args``
reply naming the field, and the handler gets typed values. A read-layer query
(:func:`query_command`, or ``command(..., query=True)``) answers the same failures as
HTTP does: ``invalid_parameter`` with HTTP's message (``read.contract.args_from_values``).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from virtuoso_daemon.core.bus import RequestError
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.requests import command_name
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.protocol import ErrorCode, RequestId
from virtuoso_daemon.read.contract import (
    NoQueryArgs,
    Query,
    QueryArgs,
    args_from_values,
    run_query,
)

if TYPE_CHECKING:
    from virtuoso_daemon.control.session import Session


# command arguments are the read layer's argument structs: one struct per question,
# whichever surface asks it (unknown fields are an error, typos do not pass)
Args = QueryArgs
NoArgs = NoQueryArgs


class CommandFailed(Exception):
    """Raised by a handler: becomes ``{"ok": false, "error": {code, message}}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Context:
    """What a handler gets besides its arguments."""

    runtime: Runtime
    session: Session
    request_id: RequestId = None
    _after_reply: list[Callable[[], None]] = field(default_factory=list)

    def after_reply(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the reply is queued (e.g. ``shutdown`` answers, then stops)."""
        self._after_reply.append(fn)

    async def ask(self, topic: str, body: Any, *, timeout: float = 5.0) -> Any:
        """A typed request to the actor owning ``topic``; refusals become error replies."""
        command = command_name(body)
        try:
            return await self.runtime.bus.request(topic, body, timeout=timeout)
        except RequestError as exc:
            raise CommandFailed(exc.code, exc.message) from None
        except TimeoutError:
            raise CommandFailed(
                ErrorCode.TIMEOUT, f"{command}: no answer from the owning actor in {timeout:g}s"
            ) from None


Handler = Callable[[Context, Any], Awaitable[Any]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    args_type: type[Args]
    handler: Handler
    help: str
    request_type: type[msgspec.Struct]
    query: bool = False  # a read-layer query: argument errors as HTTP answers them


_REGISTRY: dict[str, CommandSpec] = {}


def _request_type(name: str, args_type: type[Args]) -> type[msgspec.Struct]:
    """``{"id", "cmd": <name>, "args": <args_type>}`` as one member of the tagged union."""
    required = any(f.required for f in msgspec.structs.fields(args_type))
    args_field: tuple[str, Any] | tuple[str, Any, Any]
    if required:
        args_field = ("args", args_type)
    else:
        args_field = ("args", args_type, msgspec.field(default_factory=args_type))
    return msgspec.defstruct(
        f"Request[{name}]",
        [("id", RequestId, None), args_field],
        tag_field="cmd",
        tag=name,
        kw_only=True,
        frozen=True,
    )


def command(
    name: str, *, args: type[Args] = NoArgs, help: str | None = None, query: bool = False
) -> Callable[[Handler], Handler]:
    """Register ``async def handler(ctx, args)`` as the command ``name``; ``query``: it
    asks a read-layer question HTTP asks too (its argument errors are HTTP's)."""

    def register(fn: Handler) -> Handler:
        if name in _REGISTRY and _REGISTRY[name].handler is not fn:
            raise ValueError(f"control command {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip()
        text = help or (doc.splitlines()[0] if doc else "")
        _REGISTRY[name] = CommandSpec(name, args, fn, text, _request_type(name, args), query)
        _codec_cache.clear()
        return fn

    return register


def forward(
    name: str, topic: str, *, args: type[Args] = NoArgs, help: str = "", timeout: float = 5.0
) -> Handler:
    """Register a command that is a request (same name, same args) to ``topic``'s owner."""

    async def handler(ctx: Context, a: Args) -> Any:
        return await ctx.ask(topic, a, timeout=timeout)

    handler.__doc__ = help
    return command(name, args=args, help=help or f"Request {name!r} from the {topic} actor.")(
        handler
    )


def query_command(name: str, fn: Query, *, args: type[Args] = NoArgs) -> Handler:
    """Register the read-layer query ``fn`` as the command ``name``: same argument
    struct, same answer, and its ``QueryError`` as an error reply with the same code
    the HTTP API answers (see :mod:`virtuoso_daemon.read.contract`)."""

    async def handler(ctx: Context, a: Args) -> Any:
        try:
            return await run_query(fn, ctx.runtime, a)
        except QueryError as exc:
            raise CommandFailed(exc.code, exc.message) from None

    handler.__doc__ = fn.__doc__
    return command(name, args=args, query=True)(handler)


def unregister(name: str) -> None:
    """Remove a command (tests; a plugin being unloaded)."""
    if _REGISTRY.pop(name, None) is not None:
        _codec_cache.clear()


def commands() -> dict[str, CommandSpec]:
    return dict(_REGISTRY)


def describe(spec: CommandSpec) -> dict[str, Any]:
    """The ``help`` command's view of one command: its arguments and their types."""
    fields = []
    for f in msgspec.structs.fields(spec.args_type):
        fields.append(
            {
                "name": f.encode_name,
                "type": _type_name(f.type),
                "required": f.required,
                **({} if f.required or f.default is msgspec.NODEFAULT else {"default": f.default}),
            }
        )
    return {"name": spec.name, "help": spec.help, "args": fields}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return " | ".join(msgspec.json.encode(v).decode() for v in typing.get_args(tp))
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in typing.get_args(tp))
        name = getattr(origin, "__name__", str(origin))
        return inner.replace(", ", " | ") if name in {"Union", "UnionType"} else f"{name}[{inner}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


# --- decoding ---------------------------------------------------------------------------


class FrameError(Exception):
    """A line that is not a valid request; answered with an error reply."""

    def __init__(self, request_id: RequestId, code: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.code = code
        self.message = message


class _Loose(msgspec.Struct):
    """Only used to explain a failed decode: what id and cmd did the client send?"""

    id: Any = None
    cmd: Any = None
    args: Any = None


_loose = msgspec.json.Decoder(_Loose)
TOO_DEEP = "a frame is nested too deeply (arrays or objects inside each other)"


class RequestCodec:
    """Decodes a request line into its command's typed request, built once per registry."""

    def __init__(self, specs: dict[str, CommandSpec]) -> None:
        self.specs = specs
        self.by_type = {s.request_type: s for s in specs.values()}
        union: Any = typing.Union[tuple(s.request_type for s in specs.values())]  # noqa: UP007
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)

    def decode(self, line: bytes) -> tuple[CommandSpec, Any]:
        try:
            req = self._decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise self._explain(line, exc) from None
        except UnicodeDecodeError:  # msgspec's error for bad UTF-8 inside a string
            raise FrameError(None, ErrorCode.BAD_FRAME, "a frame must be UTF-8") from None
        except RecursionError:  # msgspec's answer to [[[[... (found by a fuzzer)
            raise FrameError(None, ErrorCode.BAD_FRAME, TOO_DEEP) from None
        return self.by_type[type(req)], req

    def _explain(self, line: bytes, exc: Exception) -> FrameError:
        # msgspec < 0.23 raised UnicodeDecodeError for bad UTF-8 inside a string; newer
        # versions raise DecodeError, and the loose decoder below skips unread values
        # without validating them, so check the encoding itself (error path only)
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return FrameError(None, ErrorCode.BAD_FRAME, "a frame must be UTF-8")
        try:
            loose = _loose.decode(line)
        except RecursionError:
            return FrameError(None, ErrorCode.BAD_FRAME, TOO_DEEP)
        except UnicodeDecodeError:
            return FrameError(None, ErrorCode.BAD_FRAME, "a frame must be UTF-8")
        except msgspec.DecodeError:
            return FrameError(None, ErrorCode.BAD_FRAME, f"not a JSON object: {exc}")
        except msgspec.ValidationError:
            return FrameError(None, ErrorCode.BAD_FRAME, "a frame must be a JSON object")
        rid = loose.id
        if isinstance(rid, bool) or not isinstance(rid, int | str | None):
            return FrameError(None, ErrorCode.BAD_FRAME, "id must be an integer, a string or null")
        if loose.cmd is None:
            return FrameError(rid, ErrorCode.BAD_FRAME, 'missing "cmd" (try {"cmd": "help"})')
        if not isinstance(loose.cmd, str):
            return FrameError(rid, ErrorCode.BAD_FRAME, '"cmd" must be a string')
        if loose.cmd not in self.specs:
            return FrameError(
                rid, ErrorCode.UNKNOWN_COMMAND, f'unknown command {loose.cmd!r} (try "help")'
            )
        spec = self.specs[loose.cmd]
        if spec.query and isinstance(loose.args, dict | None):
            try:
                args_from_values(spec.args_type, loose.args or {})
            except QueryError as qe:  # what HTTP answers for the same arguments
                return FrameError(rid, qe.code, qe.message)
        return FrameError(rid, ErrorCode.BAD_ARGS, f"{loose.cmd}: {_explain_validation(exc)}")


def _explain_validation(exc: Exception) -> str:
    """``Expected `int`, got `str` - at `$.args.limit``` -> ``limit: expected int, got str``."""
    text = str(exc).replace("`", "")
    message, _, where = text.partition(" - at ")
    if where.startswith("$.args"):
        where = where.removeprefix("$.args").lstrip(".") or "args"
    message = message[:1].lower() + message[1:]
    unknown = message.removeprefix("object contains unknown field ")
    if unknown != message:
        return f"unknown argument {unknown!r}"
    missing = message.removeprefix("object missing required field ")
    if missing != message:
        return "missing arguments" if missing == "args" else f"missing argument {missing!r}"
    return f"{where}: {message}" if where else message


_codec_cache: dict[str, RequestCodec] = {}


def codec() -> RequestCodec:
    """The decoder for the commands registered so far (rebuilt only after a registration)."""
    cached = _codec_cache.get("codec")
    if cached is None:
        cached = _codec_cache["codec"] = RequestCodec(commands())
    return cached


async def run_with_timeout(fn: Callable[[], Awaitable[Any]], seconds: float, what: str) -> Any:
    """Await ``fn()`` for at most ``seconds``; a timeout becomes a ``timeout`` error reply."""
    try:
        with anyio.fail_after(seconds):
            return await fn()
    except TimeoutError:
        raise CommandFailed(ErrorCode.TIMEOUT, f"{what}: no result in {seconds:g}s") from None
