"""What each course image looks like as files: the lab pulls no image.

A container of the course runs one of two images (``var.images`` in
terraform/variables.tf): the official ``nginx`` image and the official ``node``
image. The lab stands in for each with this machine's Debian programs and the
few files the image would hold:

- ``nginx``: Debian's ``/usr/sbin/nginx`` (``apt-get install nginx``), with an
  ``/etc/nginx`` laid out as the official image's: ``nginx.conf`` includes only
  ``mime.types`` and ``/etc/nginx/conf.d/*.conf`` (NOT Debian's ``sites-enabled``),
  ``conf.d/`` starts empty, the access log goes to stdout and the error log to
  stderr (the image links them so, for ``docker logs``), and the pid file and the
  temp paths Debian's build uses (``/run``, ``/var/lib/nginx``) are private and
  writable. Debian has no ``nginx`` user: the workers run as ``www-data``.
  https://github.com/nginxinc/docker-nginx/blob/master/stable/alpine/nginx.conf
- ``node``: Debian's ``/usr/bin/node`` (Node.js 20 from NodeSource on the course's machines).

Versions differ: the course's images are the current stable nginx (1.30,
https://nginx.org/en/download.html) and the current Node.js LTS (26, Active LTS since
2026-10-28, https://github.com/nodejs/Release#release-schedule), newer than the stand-ins
(Debian 12's nginx is 1.22).

``image_for(name)`` says which stand-in an image name gets (or raises a
CourseError naming the task definition field ``image``); ``ImageRoot.prepare``
writes one container's private copy of the image's files.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CourseError

# The official image's /etc/nginx/nginx.conf (docker-nginx, stable), with Debian's user.
NGINX_CONF = """\
user  www-data;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""
# Used only when Debian's nginx package left no mime.types (it always ships one).
MINIMAL_MIME_TYPES = """\
types {
    text/html                                        html htm shtml;
    text/css                                         css;
    application/javascript                           js;
    application/json                                 json;
    image/png                                        png;
}
"""
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    """One course image and the Debian program that stands in for it."""

    kind: str  # "nginx" or "node"
    program: str  # the executable the image's default command runs
    install: str  # the install line when the program is missing
    entry_point: list = field(default_factory=list)  # the image's ENTRYPOINT, as the lab runs it
    command: list = field(default_factory=list)  # the image's CMD
    # Paths bind-mounted from the container's private copy: (inside the container, under its root dir).
    private_dirs: tuple = ()

    def program_path(self) -> str:
        """The stand-in program, or a CourseError with the install line."""
        found = shutil.which(self.program, path=PATH)
        if not found:
            raise CourseError(
                f"The lab cannot run the {self.kind} image: {self.program} is not installed on this machine.",
                f"Images are not pulled: the lab runs the course's {self.kind} containers with Debian's "
                f"{self.program} program instead.",
                f"install it as root: {self.install}   (the Makefile's lab targets do this for you)",
            )
        return found

    def standing_in(self) -> str:
        found = shutil.which(self.program, path=PATH)
        return f"{self.kind}: Debian's {found}" if found else f"{self.kind}: MISSING ({self.install})"


NGINX = Image(
    kind="nginx",
    program="nginx",
    install="apt-get install nginx",
    # The image's /docker-entrypoint.sh only runs /docker-entrypoint.d/ scripts (none here) then execs its arguments.
    command=["nginx", "-g", "daemon off;"],
    private_dirs=("/etc/nginx", "/var/log/nginx", "/var/lib/nginx", "/run"),
)
NODE = Image(
    kind="node",
    program="node",
    install="apt-get install nodejs   (Node.js 20 or newer: https://deb.nodesource.com/ or Debian's package)",
    # docker-entrypoint.sh runs `node ARGS` when the first argument is not a command; the course passes `node`.
    command=["node"],
)
IMAGES = {"nginx": NGINX, "node": NODE}
# repository[:tag][@digest]; the repository's last path part names the image: public.ecr.aws/nginx/nginx:1.30-alpine.
_REFERENCE = re.compile(
    r"^(?:[A-Za-z0-9.\-]+(?::[0-9]+)?/)?(?:[a-z0-9._\-]+/)*([a-z0-9._\-]+)(?::[\w.\-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def image_for(name: str, container: str = "") -> Image:
    """The stand-in for image ``name`` (the container definition's ``image`` field)."""
    match = _REFERENCE.match(name or "")
    image = IMAGES.get(match.group(1)) if match else None
    if image is None:
        where = f"container {container!r}: " if container else ""
        raise CourseError(
            f"The lab cannot run the image {name!r} ({where}task definition field `image`).",
            "Images are not pulled: the lab knows only the course's two images, the official nginx and node "
            "images (var.images in terraform/variables.tf), and runs them with Debian's nginx and Node.js.",
            "use an nginx or node image in the container definition's `image` (e.g. "
            "public.ecr.aws/nginx/nginx:1.30-alpine), or run this task on AWS.",
        )
    return image


def nginx_user() -> str:
    """www-data, Debian's nginx user; root where this user namespace maps no other uid (the lab's sandbox:
    nginx's workers could not switch to www-data there, so they run as the learner, the sandbox's root)."""
    try:
        rows = [line.split() for line in Path("/proc/self/uid_map").read_text().splitlines()]
        mapped = sum(int(row[2]) for row in rows if len(row) == 3)
    except (OSError, ValueError):
        mapped = 0
    return "www-data" if mapped != 1 else "root"


def prepare(image: Image, root: Path) -> dict:
    """Write one container's private copy of the image's files under ``root``.

    Returns {path inside the container: directory to bind there}. The nginx image
    gets its /etc/nginx (official layout), log links and writable temp/pid dirs.
    """
    image.program_path()
    binds: dict = {}
    if image.kind == "nginx":
        etc = root / "etc" / "nginx"
        (etc / "conf.d").mkdir(parents=True, exist_ok=True)
        (etc / "nginx.conf").write_text(NGINX_CONF.replace("user  www-data;", f"user  {nginx_user()};"))
        debian_mime = Path("/etc/nginx/mime.types")
        (etc / "mime.types").write_text(debian_mime.read_text() if debian_mime.is_file() else MINIMAL_MIME_TYPES)
        logs = root / "var" / "log" / "nginx"
        logs.mkdir(parents=True, exist_ok=True)
        for name, target in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
            link = logs / name
            if not link.is_symlink():
                link.symlink_to(target)
        for sub in ("var/lib/nginx", "run"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        binds = {inside: str(root / inside.lstrip("/")) for inside in image.private_dirs}
    return binds


def status_lines() -> list[str]:
    """For `lab status`: images are not pulled, and what stands in for each."""
    return ["images: not pulled; each course image runs this machine's program instead:"] + [
        f"  {image.standing_in()}" for image in IMAGES.values()
    ]
