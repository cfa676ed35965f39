"""moto's work that gives the same answer every time: done once per emulator process (three speedups).

moto's server repeats, for every request, work whose result cannot change while it runs. Profiled with py-spy on
describes against the course's emulator (`make test` runs several emulators, and a workshop room serves every
learner's Terraform from one), two calls stood out, together about a fifth of a describe's CPU:

- ``moto.backends.list_of_moto_modules()`` lists moto's package folder and stats each of its ~180 entries, to see
  whether a request's Host names a moto module (``DomainDispatcherApplication.get_backend_for_host``);
- ``moto.core.utils.method_names_from_class(cls)`` runs ``inspect.getmembers`` over a response class's whole MRO
  to find its action methods (``BaseResponse.call_action``).

Both are memoised here: the package folder does not change under a running server, and a response class's methods
are fixed once its module is imported. The third speedup saves work once per account: finding which account an
access key belongs to created five empty IAM partitions for each account, each loading the AWS managed policies.

The answers stay the same: tests/runtime/test_moto_speed.py compares each with moto's own, and checks that each
replaces the name moto calls; ``make bench`` prints the emulator's CPU per request. Written against moto 5.2.5,
like helpers/runtime/moto_fixes.py.
"""

from __future__ import annotations

import functools

SPEEDUPS: list = []


def speedup(func):
    """Register ``func`` (it patches moto in this process) for ``apply()``."""
    SPEEDUPS.append(func)
    return func


@speedup
def moto_modules_listed_once() -> None:
    """``list_of_moto_modules()`` reads moto's folder once (werkzeug_app calls it through ``backends.``)."""
    from moto import backends  # moto: loaded only in the emulator's own process

    listed = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: listed


@speedup
def response_methods_listed_once_per_class() -> None:
    """``method_names_from_class(cls)`` inspects each response class once (responses.py imported it by name)."""
    from moto.core import responses, utils  # moto: loaded only in the emulator's own process

    remembered = functools.lru_cache(maxsize=None)(utils.method_names_from_class)

    def method_names_from_class(clazz: object) -> list[str]:
        return list(remembered(clazz))  # a copy: a caller may change its list

    responses.method_names_from_class = method_names_from_class


@speedup
def account_of_a_key_found_without_creating_partitions() -> None:
    """``get_account_id_from(key)`` looks only in the IAM partitions an account already has.

    moto's looks in every partition of every account (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc), and
    reading one creates it: with the AWS managed policies loaded (the emulator loads them), that is about 1.3 s of
    CPU for each account's first unsigned-account request. A partition not created yet has no access key, so the
    answer is the same.
    """
    from moto.iam import models  # moto: loaded only in the emulator's own process

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):
            for partition in [name for name in list(account.keys()) if name in models.PARTITION_NAMES]:
                if access_key in account[partition].access_keys:
                    return account_id
        return models.DEFAULT_ACCOUNT_ID

    models.get_account_id_from = get_account_id_from  # responses.py imports it from there at each call


def apply() -> list[str]:
    """Apply every speedup in this (the emulator's) process; their names, for its health answer."""
    for func in SPEEDUPS:
        func()
    return [func.__name__ for func in SPEEDUPS]
