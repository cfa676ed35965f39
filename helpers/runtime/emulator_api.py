"""The emulator's own routes (``/_course/...``), called as every AWS request is: signed.

A workshop room's emulator (helpers/runtime/room_gate.py) serves only requests signed with a credential
the instructor handed out, and acts in that learner's account. The traffic lab's writes that no AWS API
offers (target health, service events) and its look at the emulator's change counts go through ``call()``,
which signs them with this workspace's credential (``emulator.credentials()``), with Signature Version 4 as
botocore signs any AWS request. On a learner's own emulator the dummy key signs them; nothing checks it.
"""

from __future__ import annotations

import json
import urllib.request

from . import cloud, emulator

SERVICE = "course"  # the signature's scope names a service; the room's door checks the signature, not the name


def call(endpoint: str, path: str, body: dict | None = None, *, timeout: float) -> bytes:
    """GET ``path`` (no ``body``) or POST ``body`` as JSON to the emulator at ``endpoint``, signed.

    Raises what ``urllib.request.urlopen`` raises: ``urllib.error.HTTPError`` for a refusal (its body says
    why, in AWS's words), ``OSError`` when the emulator does not answer."""
    from botocore.auth import SigV4Auth  # heavy: with the first call
    from botocore.awsrequest import AWSRequest  # heavy: with the first call
    from botocore.credentials import Credentials  # heavy: with the first call

    data = None if body is None else json.dumps(body).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    request = AWSRequest(
        method="GET" if data is None else "POST", url=endpoint.rstrip("/") + path, data=data, headers=headers
    )
    key, secret = emulator.credentials()
    SigV4Auth(Credentials(key, secret), SERVICE, cloud.region()).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, data=prepared.body, headers=dict(prepared.headers), method=prepared.method
    )
    with urllib.request.urlopen(sent, timeout=timeout) as answer:
        return answer.read()
