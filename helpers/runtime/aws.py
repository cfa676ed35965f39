"""boto3 clients bound to the current cloud (target) and region.

    from helpers import aws
    ec2 = aws.client("ec2")

``client()`` makes a client and does nothing else of its own. What must happen before
a client is made (restart a stopped emulator and re-apply what it lost, name the AWS
account once, note ignored credentials) is registered in ``HOOKS`` by the course
session (helpers/course/session.py), the one place where such behaviour is wired.

Emulator target: dummy keys, the emulator's endpoint, and no profile from the
environment, so real credentials can never be used by accident.
AWS target: boto3's normal credential chain; ``require_credentials()``
checks it and names the account before anything is created.
``AWS_ENDPOINT_URL`` is honoured for both (boto3 reads it itself for aws; for
the emulator it replaces the workspace's emulator, e.g. an instructor's one).

On the emulator, one boto3 session per (endpoint, region, key), shared by every client made for it: a
session holds its own copy of each service model it loaded (ec2's: 14.5 MB, and the first client's
endpoints.json 6.7 MB, measured with tracemalloc). boto3 sessions are not thread-safe, so clients are
made under a lock (the clients themselves are, so one per service is shared by all threads).
``emulator_client(service, endpoint, region)`` is the lab's: a given emulator, no hooks, short
timeouts and one retry, so a call while the emulator is down fails in seconds, not after
botocore's retry backoff. Its clients come from a lean botocore session of their own (``_lab_session``):
no boto3 (its resources are never used there), each service model without its documentation strings,
which only help() and the API reference read (ec2's model takes 7 MB so, not 14.5 MB), and read shape by
shape into compact JSON text, each shape parsed the first time botocore asks for it (``_service_model``,
``ShapesAsText``: the lab's calls use few of ec2's 4,600 shapes; its model then takes 3 MB, and the
supervisor's PSS 6 MB less, make bench (h)), and the endpoints of the lab's services only
(LAB_ENDPOINT_PREFIXES). The lab's supervisor process (every ALB node, ECS agent and the DNS) holds one copy
of each.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gzip
import json
import os
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import CourseError
from . import cloud, emulator

# Callables hook(service) run before each client is made; the course session registers its own.
HOOKS: list = []
# The instructor of a room looks into one learner's account at a time (facilitator, leftovers).
_account: contextvars.ContextVar[str | None] = contextvars.ContextVar("account", default=None)
_lock = threading.RLock()  # boto3 sessions are not thread-safe: sessions and clients are made under it
_sessions: dict = {}  # the emulator's: (endpoint, region, key) -> boto3.Session
_lab_sessions: dict = {}  # the lab's: (endpoint, region, key) -> a lean botocore session (_lab_session)
# Keys of a service model that only documentation reads (botocore.docs, help()); the lab's models leave them empty.
DOCUMENTATION_KEYS = frozenset({"documentation", "documentationUrl"})
# The services the lab's programs call, by endpoint prefix (elbv2's is elasticloadbalancing): the lab's copy of
# botocore's endpoints.json keeps only these (3.9 MB for its 300 services otherwise). Another service still
# works there, with botocore's defaults for a service the file does not name (signing region: the client's).
LAB_ENDPOINT_PREFIXES = frozenset({"ec2", "elasticloadbalancing", "ecs", "route53", "acm", "autoscaling"})
# The lab's clients (emulator_client): seconds to connect and to read, attempts in all (one retry).
EMULATOR_CONNECT_TIMEOUT, EMULATOR_READ_TIMEOUT, EMULATOR_ATTEMPTS = 2, 10, 2


def endpoint_url() -> str | None:
    """Where requests go: None means AWS's own endpoints."""
    if not cloud.is_emulator():
        return None
    if os.environ.get("AWS_ENDPOINT_URL"):
        return _answering(os.environ["AWS_ENDPOINT_URL"])
    return emulator.ensure()  # started if needed


def _answering(url: str) -> str:
    """``url`` if something listens there; the course cannot restart an emulator it did not start."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout=3
        ):
            return url
    except (OSError, ValueError):
        raise CourseError(
            f"Nothing answers at AWS_ENDPOINT_URL={url}.",
            "AWS_ENDPOINT_URL names an emulator the course does not manage, so it cannot start or restart it; "
            "that emulator is stopped or unreachable.",
            "start that emulator again, or unset AWS_ENDPOINT_URL to use the course's own "
            "(started, and restarted, automatically).",
        ) from None


def boto_session():
    """A new boto3 session for the current target and region (clients use the shared ones: _session)."""
    region = cloud.region()
    if cloud.is_emulator():
        return _emulator_session(region, *emulator.credentials())
    import boto3  # heavy: loaded when the first client is made

    return boto3.Session(region_name=region)


def _emulator_session(region: str, key: str, secret: str):
    import boto3  # heavy: loaded when the first client is made
    import botocore.session  # heavy: the first client

    # A botocore session that ignores AWS_PROFILE: a profile named in the
    # environment must not be read (or fail to be found) for the emulator.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.Session(botocore_session=core, aws_access_key_id=key, aws_secret_access_key=secret, region_name=region)


def _session(target: str, endpoint: str | None, region: str, credential):
    """The emulator's one session of (endpoint, region, key); call with _lock held. On AWS a new session
    each time (as before): its credentials come from the environment, which may change meanwhile."""
    if target != "emulator":
        import boto3  # heavy: loaded when the first client is made

        return boto3.Session(region_name=region)
    key = (endpoint, region, credential)
    if key not in _sessions:
        _sessions[key] = _emulator_session(region, *credential)
    return _sessions[key]


def client(service: str):
    """A boto3 client for ``service`` on the current target (after the registered HOOKS)."""
    for hook in HOOKS:
        hook(service)
    target = cloud.current()
    credential = emulator.credentials() if target == "emulator" else None
    return _client(service, target, cloud.region(), endpoint_url(), credential, _account.get())


def emulator_client(service: str, endpoint: str, region: str):
    """A client of the emulator at ``endpoint`` for the traffic lab's threads: no hooks (it never starts or
    restarts an emulator), connect/read timeouts of a few seconds and one retry."""
    return _emulator_client(service, endpoint, region, emulator.credentials())


@functools.lru_cache(maxsize=128)
def _emulator_client(service: str, endpoint: str, region: str, credential: tuple[str, str]):
    from botocore.config import Config  # heavy: with the first client

    config = Config(
        connect_timeout=EMULATOR_CONNECT_TIMEOUT,
        read_timeout=EMULATOR_READ_TIMEOUT,
        retries={"total_max_attempts": EMULATOR_ATTEMPTS, "mode": "standard"},
    )
    key, secret = credential
    with _lock:
        if (endpoint, region, credential) not in _lab_sessions:
            _lab_sessions[(endpoint, region, credential)] = _lab_session()
        return _lab_sessions[(endpoint, region, credential)].create_client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=config,
        )


def _lab_session():
    """A botocore session (the one boto3 wraps; boto3 adds only resources) that ignores AWS_PROFILE, as the
    emulator's, and whose loader reads each JSON file as plain dicts with DOCUMENTATION_KEYS emptied, a service
    model's shapes as ShapesAsText."""
    import botocore.loaders  # heavy: with the first client
    import botocore.session  # heavy: with the first client

    class LeanJSONFiles(botocore.loaders.JSONFileLoader):
        def load_file(self, file_path):
            for extension, opener in ((".json", open), (".json.gz", gzip.open)):  # botocore's two
                if os.path.isfile(file_path + extension):
                    with opener(file_path + extension, "rb") as file:
                        text = file.read().decode("utf-8")
                    if os.path.basename(file_path) == "service-2":
                        return _service_model(text)
                    data = json.loads(text, object_pairs_hook=_without_documentation)
                    return _lab_endpoints(data) if os.path.basename(file_path) == "endpoints" else data
            return None

    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    core.get_component("data_loader").file_loader = LeanJSONFiles()
    return core


class ShapesAsText(Mapping):
    """A service model's shapes, each kept as compact JSON text and parsed (once) when botocore asks for it by name.
    botocore only looks a model's shapes up by name and lists their names (botocore/model.py: ShapeResolver,
    ServiceModel.shape_names), so a Mapping stands in for the dict."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._text = texts  # name -> the shape as compact JSON, documentation emptied
        self._parsed: dict = {}  # the shapes asked for, as botocore's loader would have them

    def __getitem__(self, name: str) -> dict:
        if name not in self._parsed:
            self._parsed[name] = json.loads(self._text[name])
        return self._parsed[name]

    def __iter__(self):
        return iter(self._text)

    def __len__(self) -> int:
        return len(self._text)


_SPACE = json.decoder.WHITESPACE.match  # the json module's own scanner pieces, for _read_object


def _service_model(text: str) -> dict:
    """A service-2.json as the lab keeps it: documentation emptied, the shapes as ShapesAsText. Its shapes are read one
    by one (_read_object), so ec2's 4,600 are never all dicts at once: decoding the whole file first left 6 MB of
    freed objects in the supervisor's heap (Python's allocator keeps an arena while one object in it lives)."""
    decoder = json.JSONDecoder(object_pairs_hook=_without_documentation)

    def shape_text(_name: str, at: int) -> tuple[str, int]:
        shape, end = decoder.raw_decode(text, at)
        return json.dumps(shape, separators=(",", ":")), end

    def member(name: str, at: int) -> tuple[object, int]:
        if name == "shapes":
            texts, end = _read_object(text, at, shape_text)
            return ShapesAsText(texts), end
        value, end = decoder.raw_decode(text, at)
        return ("" if name in DOCUMENTATION_KEYS else value), end

    model, _ = _read_object(text, _SPACE(text, 0).end(), member)
    return model


def _read_object(text: str, at: int, read_value) -> tuple[dict, int]:
    """The JSON object at ``text[at]`` ("{"), one member at a time: each value is ``read_value(name, index)`` ->
    (value, index past it), with the json module's own decoder; returns the object and the index past its "}"."""
    found, at = {}, _SPACE(text, at + 1).end()
    while text[at] == '"':
        name, at = json.decoder.scanstring(text, at + 1)
        at = _SPACE(text, at).end()
        if text[at] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
        found[name], at = read_value(name, _SPACE(text, at + 1).end())
        at = _SPACE(text, at).end()
        if text[at] == ",":
            at = _SPACE(text, at + 1).end()
    if text[at] != "}":
        raise json.JSONDecodeError("Expecting '}'", text, at)
    return found, at + 1


def _lab_endpoints(data: dict) -> dict:
    """botocore's endpoints.json with, in each partition, the lab's services only (LAB_ENDPOINT_PREFIXES)."""
    for partition in data.get("partitions", []):
        partition["services"] = {k: v for k, v in partition["services"].items() if k in LAB_ENDPOINT_PREFIXES}
    return data


def _without_documentation(pairs: list[tuple[str, object]]) -> dict:
    """The object with its documentation emptied: the keys stay, as botocore reads some with [] (model.py)."""
    return {name: "" if name in DOCUMENTATION_KEYS else value for name, value in pairs}


@contextlib.contextmanager
def in_account(account: str | None):
    """Clients made inside act in ``account`` of the room this workspace serves (None: its own)."""
    token = _account.set(account)
    try:
        yield
    finally:
        _account.reset(token)


@functools.lru_cache(maxsize=128)
def _client(service: str, target: str, region: str, endpoint: str | None, credential, account: str | None):
    with _lock:
        made = _session(target, endpoint, region, credential).client(service, endpoint_url=endpoint)
    if account:

        def choose_account(request, **_):
            request.headers["x-moto-account-id"] = account  # honoured only for the room's instructor

        made.meta.events.register("before-sign", choose_account)
    return made


_confirmed: dict = {}  # (region, access key) -> caller identity, so the banner shows once


def require_credentials() -> dict:
    """For the aws target: fail clearly without credentials, else say where we are.

    Returns {"account": ..., "region": ..., "arn": ...}; the first call per
    credentials and region prints the account, region and a cost reminder.
    On the emulator it returns the emulator's fixed account, contacting nothing.
    """
    import botocore.exceptions  # heavy: loaded when the first client is made

    if cloud.is_emulator():
        return {"account": cloud.EMULATOR_ACCOUNT, "region": cloud.region(), "arn": "emulator"}
    sess = boto_session()
    if sess.get_credentials() is None:
        raise CourseError(
            "No AWS credentials found for the aws target.",
            "The target is real AWS (COURSE_TARGET=aws or 'python -m helpers target aws'), "
            "but boto3 found no access keys, profile or role.",
            "run 'aws configure' (or export AWS_PROFILE=...), "
            "or go back to the free emulator: python -m helpers target emulator",
        )
    key = (sess.region_name, sess.get_credentials().access_key)
    if key in _confirmed:
        return _confirmed[key]
    try:
        who = sess.client("sts").get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise CourseError(
            "AWS rejected your credentials.",
            f"sts:GetCallerIdentity failed: {exc}",
            "refresh them (aws sso login, or new keys in 'aws configure'), then re-run the cell.",
        ) from None
    info = {"account": who["Account"], "region": sess.region_name, "arn": who["Arn"]}
    print(
        f"Target: real AWS — account {info['account']}, region {info['region']} ({info['arn']}).\n"
        "  Resources you create here cost money until you run the teardown notebook."
    )
    _confirmed[key] = info
    return info
