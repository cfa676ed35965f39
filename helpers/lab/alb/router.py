"""A listener's rules: which action a request gets, and the answers that need no target.

- ``refused(request)``: what the load balancer answers before any rule: 405 for TRACE, 463 for an
  X-Forwarded-For of more than 30 addresses
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html);
- ``action_for(listener, request)``: the rules in priority order, path patterns with ``*`` and ``?``,
  host headers; then the default action
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-update-rules.html,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html);
- ``respond(action, listener, request)``: a redirect's 301/302 with the Location built from
  ``#{protocol}://#{host}:#{port}/#{path}?#{query}``, unset parts keeping the request's
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions);
  a fixed response's code, type and body; None for a forward.
"""

from __future__ import annotations

import re

from .config import Action, Listener, Redirect
from .http import SERVER, Answer, Request, page

FORWARDED_FOR_LIMIT = 30  # addresses in X-Forwarded-For


def refused(request: Request) -> Answer | None:
    """405 for the TRACE method, 463 for more than 30 addresses in X-Forwarded-For; else None."""
    if request.method == "TRACE":
        return Answer.error(405)
    forwarded = request.header("X-Forwarded-For")
    if forwarded is not None and len(forwarded.split(",")) > FORWARDED_FOR_LIMIT:
        return Answer.error(463)
    return None


def match_pattern(pattern: str, value: str, *, case: bool) -> bool:
    """AWS rule wildcards: * any characters, ? exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def host_of(request: Request) -> str:
    """The Host header without its port (what host-header conditions and redirects use)."""
    return re.sub(r":\d+$", "", request.header("Host") or "")


def action_for(listener: Listener, request: Request) -> Action:
    """The first rule whose conditions all match, else the default action; its last action (the final one)."""
    actions = listener.default_actions
    host = host_of(request)
    for rule in listener.rules:
        if rule.path_patterns and not any(match_pattern(p, request.path, case=True) for p in rule.path_patterns):
            continue
        if rule.host_headers and not any(match_pattern(h, host, case=False) for h in rule.host_headers):
            continue
        actions = rule.actions
        break
    return actions[-1] if actions else Action("fixed-response")


def scheme(listener: Listener) -> str:
    return "https" if listener.protocol == "HTTPS" else "http"


def redirect_location(r: Redirect, *, protocol: str, host: str, port: int, path: str, query: str) -> str:
    """#{protocol}://#{host}:#{port}/#{path}?#{query}, each part the rule's or the request's own."""

    def fill(text: str) -> str:
        return (
            text.replace("#{protocol}", protocol.lower())
            .replace("#{host}", host)
            .replace("#{port}", str(port))
            .replace("#{path}", path.lstrip("/"))
            .replace("#{query}", query)
        )

    location = f"{fill(r.protocol).lower()}://{fill(r.host)}:{fill(r.port)}{fill(r.path)}"
    q = fill(r.query)
    return f"{location}?{q}" if q else location


def respond(action: Action, listener: Listener, request: Request) -> Answer | None:
    """The answer of a redirect or fixed-response action; None when the action forwards."""
    if action.type == "redirect":
        location = redirect_location(
            action.redirect,
            protocol=scheme(listener),
            host=host_of(request),
            port=listener.port,
            path=request.path,
            query=request.query,
        )
        status = 302 if action.redirect.status_code == "HTTP_302" else 301
        headers = [("Server", SERVER), ("Content-Type", "text/html"), ("Location", location)]
        return Answer(status, headers, page(status))
    if action.type == "fixed-response" and action.fixed_response:
        f = action.fixed_response
        return Answer(f.status_code, [("Server", SERVER), ("Content-Type", f.content_type)], f.body.encode())
    if action.type == "forward" and action.target_groups:
        return None
    return Answer.error(500)
