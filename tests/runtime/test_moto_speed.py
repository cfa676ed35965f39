"""helpers/runtime/moto_speed.py: each speedup gives moto's own answers (in a process of its own, as the emulator
applies them: moto stays unpatched in the test's process). Its effect, the emulator's CPU per request, is printed
by ``make bench`` (part foundation), never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers.runtime import moto_speed

COMPARE = """
import importlib, json, pkgutil
import moto
from moto import backends
from moto.core import responses, utils
from moto.core.responses import BaseResponse

listed = list(backends.list_of_moto_modules())
for module in ("ec2", "ecs", "elbv2", "route53", "acm", "iam", "autoscaling", "ssm", "logs"):
    importlib.import_module(f"moto.{module}.responses")
def every(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from every(sub)
classes = sorted(set(every(BaseResponse)), key=lambda c: c.__module__ + c.__qualname__)
methods = {c.__module__ + "." + c.__qualname__: utils.method_names_from_class(c) for c in classes}

from moto.iam import models as iam
def key_of(account):
    iam.iam_backends[account]["aws"].create_user("us-east-1", "someone")
    return iam.iam_backends[account]["aws"].create_access_key("someone").access_key_id
key_a = key_of("111122223333")
key_owner = [iam.get_account_id_from(key_a), iam.get_account_id_from("AKIANOBODY")]
key_b = key_of("444455556666")  # after moto's own lookups: only its "aws" partition exists

from helpers.runtime import moto_speed
applied = moto_speed.apply()
key_owner_after = [iam.get_account_id_from(k) for k in (key_a, "AKIANOBODY", key_b)]
partitions_after = sorted(iam.iam_backends["444455556666"].keys())
responses.method_names_from_class(classes[0])  # the first call fills the memo: compare the next ones
again = {c.__module__ + "." + c.__qualname__: responses.method_names_from_class(c) for c in classes}
backends.list_of_moto_modules()
first = responses.method_names_from_class(classes[0])
first.append("changed by a caller")
print(json.dumps({
    "applied": applied,
    "modules_same": list(backends.list_of_moto_modules()) == listed and len(listed) > 100,
    "ecs_listed": "ecs" in backends.list_of_moto_modules(),
    "classes": len(classes),
    "wired": [backends.list_of_moto_modules() is backends.list_of_moto_modules(),
              responses.method_names_from_class is not utils.method_names_from_class,
              iam.get_account_id_from.__module__ == "helpers.runtime.moto_speed"],
    "methods_same": again == methods,
    "copy": "changed by a caller" not in responses.method_names_from_class(classes[0]),
    "key_owner": [key_owner, key_owner_after],
    "partitions_after": partitions_after,
}))
"""


def test_each_speedup_answers_as_moto_does():
    done = subprocess.run([sys.executable, "-c", COMPARE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["applied"] == [f.__name__ for f in moto_speed.SPEEDUPS]
    assert found["wired"] == [True, True, True], "a speedup does not replace the name moto calls at request time"
    assert found["modules_same"] and found["ecs_listed"], "the listed moto modules differ from moto's own list"
    assert found["classes"] > 5 and found["methods_same"], "a response class's methods differ from moto's own"
    assert found["copy"], "a caller that changes the list it got changes what the next caller gets"
    before, after = found["key_owner"]
    assert before == ["111122223333", "123456789012"], "moto's own lookup changed: re-read the speedup"
    assert after == [*before, "444455556666"], "a key's account (or the default) differs from moto's answer"
    assert found["partitions_after"] == ["aws"], "looking a key up created IAM partitions the account did not have"


def test_the_emulator_says_which_speedups_it_runs(emulator_url):
    import urllib.request

    from helpers.runtime import emulator_routes

    with urllib.request.urlopen(emulator_url + emulator_routes.HEALTH, timeout=30) as answer:
        health = json.load(answer)
    assert health["speedups"] == [f.__name__ for f in moto_speed.SPEEDUPS]
