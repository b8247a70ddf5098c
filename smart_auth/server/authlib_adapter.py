"""Authlib meets Starlette and asyncio.

Authlib's server is synchronous: its calls run in a worker thread (``asyncio.to_thread``), and
its hooks reach our async stores through ``on_loop``, which runs a coroutine on the app's
event loop and waits for it. ``in_thread`` sets the request's context for the hooks (a context
variable: ``asyncio.to_thread`` carries it into the worker, and some hooks, like
``query_client``, are given no request)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the server's hooks need to know about the request beyond its parameters."""

    loop: asyncio.AbstractEventLoop
    issuer: str
    audience: str  # the FHIR base URL: what access tokens are for
    token_url: str  # what client assertions must name as their audience
    style_url: str  # the token response's smart_style_url


_current: ContextVar[RequestContext] = ContextVar("medrec_oauth_request")


def current() -> RequestContext:
    return _current.get()


async def in_thread(context: RequestContext, call: Callable[..., T], *args: Any) -> T:
    """Run a synchronous Authlib call in a worker thread, its hooks seeing ``context``."""
    token = _current.set(context)
    try:
        return await asyncio.to_thread(call, *args)
    finally:
        _current.reset(token)


def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the event loop from Authlib's worker thread, and wait for it."""
    return asyncio.run_coroutine_threadsafe(coro, _current.get().loop).result()


class Params(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}  # the first of each; repeats are refused via datalist
        for name, value in items:
            self._data.setdefault(name, value)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in items:
            self._datalist[name].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An Authlib request from a Starlette one whose parameters were read beforehand (reading
    a body is async, Authlib is not)."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        params: list[tuple[str, str]],
    ) -> None:
        # Not OAuth2Request.__init__: its https check would refuse every request behind a
        # TLS-terminating proxy. Transport security is the deployment's (base_url https,
        # Secure cookies); the attributes below are the ones it sets.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = Params(params)
        self.client: Any = None
        self.auth_method: Any = None
        self.user: Any = None
        self.authorization_code: Any = None
        self.refresh_token: Any = None
        self.credential: Any = None
        self._scope: Any = None

    @property
    def args(self) -> Mapping[str, str]:
        return self.payload.data

    @property
    def form(self) -> Mapping[str, str]:
        return self.payload.data
