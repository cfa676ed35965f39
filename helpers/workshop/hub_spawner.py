"""Inside the hub (jupyterhub_config.py imports this): who may log in, and what each learner's server is.

- ``LearnerAuthenticator``: JupyterHub's shared-password authenticator (the workshop's password, any name),
  which refuses a name that is not a learner name (1 to 12 lower-case letters or digits, a letter first: the
  name prefixes the learner's AWS resources, helpers/runtime/learner.py) with a page that says so, and a name
  another browser holds (hub_users.claim: the first login's key, kept in a signed cookie).
- ``LearnerSpawner``: JupyterHub's LocalProcessSpawner, with the learner's Unix user made on first start
  (helpers/workshop/hub_users.py), their server opened on their own copy of the notebooks with their room
  credential in its environment, and put in a cgroup with their memory and CPU limit before it drops root
  (helpers/workshop/hub_limits.py). LocalProcessSpawner, not SystemdSpawner: the hub's hosts (this Debian
  machine, a container, a VM) need not run systemd, and the limits are the kernel's own either way.

The lab each learner starts from their notebooks runs rootless, in a user namespace of their own
(helpers/lab/net/sandbox.py): their namespaces are not another learner's.
"""

from __future__ import annotations

import os

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado import web
from traitlets import Integer

from ..errors import CourseError
from ..runtime import learner
from . import hub_limits, hub_users, room


class LearnerAuthenticator(SharedPasswordAuthenticator):
    seats = Integer(
        room.CAPACITY, config=True, help="how many learners the hub takes (python -m helpers hub start --learners)"
    )

    async def authenticate(self, handler, data):
        name = (data.get("username") or "").strip().lower()
        try:
            learner.check(name)
        except CourseError as refused:
            raise web.HTTPError(403, f"{refused.what} {refused.why} Choose a name like ana or team3.") from None
        user = await super().authenticate(handler, {**data, "username": name})
        if user is None:
            return None  # a wrong password: JupyterHub's own "Invalid username or password"
        cookie = hub_users.KEY_COOKIE + name
        presented = handler.get_secure_cookie(cookie, max_age_days=hub_users.KEY_DAYS)
        try:
            key = hub_users.claim(name, presented.decode() if presented else None, self.seats)
        except CourseError as full:
            raise web.HTTPError(403, f"{full.what} {full.why} Ask the instructor for a seat: {full.fix}.") from None
        if key is None:
            raise web.HTTPError(
                403,
                f"The name {name} is taken: another learner in this room logged in with it first, and its files "
                f"and account are theirs. Choose another name (for example {name[:11]}2). If {name} is you on "
                "another browser, ask the instructor to free it for you (hub release).",
            )
        handler.set_secure_cookie(cookie, key, expires_days=hub_users.KEY_DAYS, httponly=True, path="/hub/")
        return user


class LearnerSpawner(LocalProcessSpawner):
    limits: hub_limits.Plan | None = None

    def make_preexec_fn(self, name):
        become = set_user_setuid(hub_users.unix_name(name))
        limits = self.limits

        def preexec():  # in the new process, still root: join the cgroups, then become the learner
            if limits is not None and limits.procs:
                hub_limits.join(limits, os.getpid())
            become()

        return preexec

    def user_env(self, env):
        entry = hub_users.ensure(self.user.name)
        env.update(USER=entry.pw_name, HOME=entry.pw_dir, SHELL=entry.pw_shell or "/bin/bash")
        env.update(hub_users.environment(self.user.name, entry, self.cmd[0]))
        return env

    async def start(self):
        entry = hub_users.ensure(self.user.name)
        self.notebook_dir = os.path.join(entry.pw_dir, "notebooks")
        self.popen_kwargs = {**self.popen_kwargs, "cwd": entry.pw_dir}
        self.limits = hub_limits.prepare(hub_limits.plan(self.user.name, self.mem_limit, self.cpu_limit))
        if self.limits.how == "none":
            self.log.warning("No memory or CPU limit for %s: %s", self.user.name, self.limits.why)
        return await super().start()
