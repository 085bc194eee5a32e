"""Flask's request cycle, step for step, for Flask 3.1 (flask/app.py and flask/ctx.py).

Three savings, each measured by bench/commits.py: the request is read from its
context variable once rather than through the `flask.request` proxy at every use,
a signal with no receivers is not sent, and hooks registered only on the app
skip working out the request's blueprints. `install` binds these functions onto
one app as its methods, leaving any method a subclass of ApiFlask overrides to
that subclass. tests/core/test_cycle.py holds them to Flask's hooks and signals.
"""

from __future__ import annotations

import inspect
import sys
import weakref
from collections.abc import Callable, Iterable
from itertools import chain
from types import MethodType
from typing import Any

from flask import Flask, Response
from flask.ctx import AppContext, RequestContext, _sentinel
from flask.globals import _cv_app, _cv_request
from flask.signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    request_finished,
    request_started,
    request_tearing_down,
)

from myapp.core.app import ApiFlask
from myapp.core.request import ApiRequest

# "Not passed", as teardowns tell it from None: Flask's own value for context pops,
# which RequestContext.pop hands on, unresolved, to the app context it pushed.
_UNSET: Any = _sentinel


def request_context() -> RequestContext:
    """The context of the request being handled: the variable behind `flask.request`."""
    try:
        return _cv_request.get()
    except LookupError:
        raise RuntimeError("Working outside of request context.") from None


def current_request() -> ApiRequest:
    """The request being handled, read from its context variable."""
    current: ApiRequest = request_context().request  # type: ignore[assignment]
    return current


def _app_only(hooks: dict[Any, Any]) -> bool:
    """Whether hooks of this kind are registered on the app alone (or nowhere)."""
    return not hooks or (len(hooks) == 1 and None in hooks)


def _names(hooks: dict[Any, Any], current: ApiRequest) -> Iterable[str | None]:
    """The request's blueprints, innermost first, then the app (Flask's order for after-hooks).

    With hooks on the app alone, there are no blueprint names to work out.
    """
    return (None,) if _app_only(hooks) else chain(current.blueprints, (None,))


class FastAppContext(AppContext):
    """Flask 3.1's AppContext.push and pop, sending their signals only when something listens."""

    def push(self) -> None:
        """AppContext.push: bind the context, then `appcontext_pushed`."""
        self._cv_tokens.append(_cv_app.set(self))
        if appcontext_pushed.receivers:
            appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

    def pop(self, exc: BaseException | None = _UNSET) -> None:
        """AppContext.pop: teardown (for the outermost push), unbind, `appcontext_popped`."""
        try:
            if len(self._cv_tokens) == 1:
                if exc is _UNSET:
                    exc = sys.exc_info()[1]
                self.app.do_teardown_appcontext(exc)
        finally:
            ctx = _cv_app.get()
            _cv_app.reset(self._cv_tokens.pop())
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context. ({ctx!r} instead of {self!r})")
        if appcontext_popped.receivers:
            appcontext_popped.send(self.app, _async_wrapper=self.app.ensure_sync)


def app_context(app: ApiFlask) -> AppContext:
    """Flask.app_context, as a FastAppContext."""
    return FastAppContext(app)


def full_dispatch_request(app: ApiFlask) -> Response:
    """Flask.full_dispatch_request: signal, before-request hooks, the view, finalize_request."""
    app._got_first_request = True
    try:
        if request_started.receivers:
            request_started.send(app, _async_wrapper=app.ensure_sync)
        rv = app.preprocess_request()
        if rv is None:
            rv = app.dispatch_request()
    except Exception as e:
        rv = app.handle_user_exception(e)
    return app.finalize_request(rv)


def finalize_request(app: ApiFlask, rv: Any, from_error_handler: bool = False) -> Response:
    """Flask.finalize_request: the response, after-request processing and its signal."""
    response = app.make_response(rv)
    try:
        response = app.process_response(response)
        if request_finished.receivers:
            request_finished.send(app, _async_wrapper=app.ensure_sync, response=response)
    except Exception:
        if not from_error_handler:
            raise
        app.logger.exception("Request finalizing failed with an error while handling an error")
    return response


def preprocess_request(app: ApiFlask) -> Any:
    """Flask.preprocess_request: URL value preprocessors, then before-request hooks, app first."""
    current = current_request()
    preprocessors, befores = app.url_value_preprocessors, app.before_request_funcs
    if _app_only(preprocessors) and _app_only(befores):  # no blueprint names to work out
        for url_func in preprocessors.get(None, ()):
            url_func(current.endpoint, current.view_args)
        ensure_sync = app.ensure_sync
        for before_func in befores.get(None, ()):
            rv = ensure_sync(before_func)()
            if rv is not None:
                return rv
        return None
    names = (None, *reversed(current.blueprints))
    for name in names:
        for url_func in preprocessors.get(name, ()):
            url_func(current.endpoint, current.view_args)
    for name in names:
        for before_func in befores.get(name, ()):
            rv = app.ensure_sync(before_func)()
            if rv is not None:
                return rv
    return None


def dispatch_request(app: ApiFlask) -> Any:
    """Flask.dispatch_request: raise the routing error, answer automatic OPTIONS, or the view."""
    current = current_request()
    if current.routing_exception is not None:
        app.raise_routing_exception(current)
    rule = current.url_rule
    if getattr(rule, "provide_automatic_options", False) and current.method == "OPTIONS":
        return app.make_default_options_response()
    view = app.view_functions[rule.endpoint]  # type: ignore[union-attr]
    return app.ensure_sync(view)(**current.view_args)  # type: ignore[arg-type]


def process_response(app: ApiFlask, response: Response) -> Response:
    """Flask.process_response: this request's callbacks, after-request hooks, the session."""
    ctx = request_context()
    for func in ctx._after_request_functions:
        response = app.ensure_sync(func)(response)
    afters = app.after_request_funcs
    for name in _names(afters, ctx.request):  # type: ignore[arg-type]
        for func in reversed(afters.get(name, ())):
            response = app.ensure_sync(func)(response)
    if not app.session_interface.is_null_session(ctx._session):
        app.session_interface.save_session(app, ctx._session, response)  # type: ignore[arg-type]
    return response


def do_teardown_request(app: ApiFlask, exc: BaseException | None = _UNSET) -> None:
    """Flask.do_teardown_request: teardown hooks, innermost blueprint first, then the signal."""
    if exc is _UNSET:
        exc = sys.exc_info()[1]
    current = current_request()
    teardowns = app.teardown_request_funcs
    if teardowns:
        for name in _names(teardowns, current):
            for func in reversed(teardowns.get(name, ())):
                app.ensure_sync(func)(exc)
    if request_tearing_down.receivers:
        request_tearing_down.send(app, _async_wrapper=app.ensure_sync, exc=exc)


def do_teardown_appcontext(app: ApiFlask, exc: BaseException | None = _UNSET) -> None:
    """Flask.do_teardown_appcontext: teardown hooks, last registered first, then the signal."""
    if exc is _UNSET:
        exc = sys.exc_info()[1]
    for func in reversed(app.teardown_appcontext_funcs):
        app.ensure_sync(func)(exc)
    if appcontext_tearing_down.receivers:
        appcontext_tearing_down.send(app, _async_wrapper=app.ensure_sync, exc=exc)


def remembering_ensure_sync(app: ApiFlask) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Flask.ensure_sync, with whether each function is a coroutine function remembered.

    Flask asks it of the view and every hook on every request, and the answer
    (an `inspect` walk over the function) never changes. Entries are keyed by
    the function's id and hold a weak reference to it, checked on every lookup
    and dropped when the function goes, so per-request callbacks
    (`after_this_request`) go with their request and an id used again is never
    mistaken for the function that had it.
    """
    #: id(function) -> (a weak reference to it, whether it is a coroutine function).
    remembered: dict[int, tuple[weakref.ref[Any], bool]] = {}

    def forget(key: int) -> Callable[[Any], None]:
        def drop(_gone: Any) -> None:
            remembered.pop(key, None)

        return drop

    def ensure_sync(func: Callable[..., Any]) -> Callable[..., Any]:
        entry = remembered.get(id(func))
        if entry is None or entry[0]() is not func:
            try:
                ref = weakref.ref(func, forget(id(func)))
            except TypeError:  # a callable that takes no weak reference: ask each time
                return Flask.ensure_sync(app, func)
            entry = remembered[id(func)] = (ref, inspect.iscoroutinefunction(func))
        return app.async_to_sync(func) if entry[1] else func

    return ensure_sync


_METHODS: dict[str, Callable[..., Any]] = {
    "app_context": app_context,
    "full_dispatch_request": full_dispatch_request,
    "finalize_request": finalize_request,
    "preprocess_request": preprocess_request,
    "dispatch_request": dispatch_request,
    "process_response": process_response,
    "do_teardown_request": do_teardown_request,
    "do_teardown_appcontext": do_teardown_appcontext,
}


def install(app: ApiFlask) -> None:
    """Bind the cycle onto `app`, but for methods its class overrides (those stay its own)."""
    for name, method in _METHODS.items():
        if getattr(type(app), name) is getattr(Flask, name):
            setattr(app, name, MethodType(method, app))
    if type(app).ensure_sync is Flask.ensure_sync:
        app.ensure_sync = remembering_ensure_sync(app)  # type: ignore[method-assign,assignment]
