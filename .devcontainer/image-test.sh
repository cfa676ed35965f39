#!/usr/bin/env bash
# make image-test: build the course image (.devcontainer/Dockerfile) on this machine and run the traffic lab's
# end-to-end check inside it (.devcontainer/lab-check.sh), with the capabilities devcontainer.json names.
#
# Made for a Debian 12 machine as root with no image registry reachable (CI):
#   - podman, runc and mmdebstrap come from apt-get. Debian's podman runs with runc and cgroupfs
#     (crun refuses the hybrid cgroups here) and no default ulimits, from a containers.conf of this script's;
#   - the base image comes from Debian's packages: mmdebstrap --variant=minbase bookworm, then podman import;
#   - the build uses the host's network (--network=host), so apt and pip reach Debian and PyPI exactly as this
#     host does, and pip verifies PyPI against the host's certificate bundle (mounted, read-only, for the build
#     only: this machine's egress proxy re-signs TLS with its own CA); nothing of it stays in the image;
#   - the check runs with --network=none: the container has only its loopback, so the emulator, Terraform
#     and every packet of the lab stay inside the container's own network namespaces.
# Where it cannot run it says why and exits 0; with CI set it exits 1 instead.
# Timings are printed at the end. IMAGE_WORK (default /var/tmp/ecs-alb-course-image) keeps rootfs.tar.
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=.devcontainer
WORK=${IMAGE_WORK:-/var/tmp/ecs-alb-course-image}
BASE=localhost/ecs-alb-course-base:bookworm
IMAGE=localhost/ecs-alb-course:test
TOOLS=(podman runc mmdebstrap)

cannot() {
  echo "make image-test cannot run here: $1"
  if [ -n "${CI:-}" ]; then
    echo "CI is set, so this is a failure."
    exit 1
  fi
  echo "Skipped. (It needs Linux, root and apt-get: Debian 12 as in CI.)"
  exit 0
}
[ "$(uname -s)" = Linux ] || cannot "it needs Linux (found $(uname -s)); on a laptop, open the dev container instead"
[ "$(id -u)" = 0 ] || cannot "it needs root (podman as root, network namespaces inside the container)"
command -v apt-get >/dev/null 2>&1 || cannot "it installs ${TOOLS[*]} with apt-get, and there is no apt-get"
[ "$(uname -m)" = x86_64 ] || cannot "the image is linux/amd64 (Terraform's offline provider), this is $(uname -m)"

began=$SECONDS
timings=()
lap() { timings+=("$(printf '%-34s %5d s' "$1" $((SECONDS - lap_at)))"); lap_at=$SECONDS; }
lap_at=$SECONDS
summary() { # on every exit from here on: the verdict and the timings so far
  local status=$?
  echo
  echo "make image-test: $([ "$status" = 0 ] && echo passed || echo "FAILED (exit $status)")"
  printf '  %s\n' "${timings[@]}"
  printf '  %-34s %5d s\n' "total" $((SECONDS - began))
  if podman image exists "$IMAGE" 2>/dev/null; then
    printf '  %-34s %5d MB (%s)\n' "image size" $(($(podman image inspect --format '{{.Size}}' "$IMAGE") / 1000000)) "$IMAGE"
  fi
}
missing=() # the Makefile's image-test target installs them with apt-get as root
for tool in "${TOOLS[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} = 0 ] || cannot "${missing[*]} missing (run it as make image-test, which installs them with apt-get)"
trap summary EXIT

mkdir -p "$WORK"
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"
podman() { command podman --runtime runc --cgroup-manager cgroupfs "$@"; }

if ! podman image exists "$BASE"; then
  if [ ! -s "$WORK/rootfs.tar" ]; then
    echo "Base image: mmdebstrap --variant=minbase bookworm (Debian's packages) ..."
    mmdebstrap --quiet --format=tar --variant=minbase bookworm "$WORK/rootfs.tar.part" && mv "$WORK/rootfs.tar.part" "$WORK/rootfs.tar"
  fi
  podman import --quiet "$WORK/rootfs.tar" "$BASE" >/dev/null
fi
lap "base image (mmdebstrap, import)"

echo "Building $IMAGE from $HERE/Dockerfile (FROM $BASE) ..."
build_args=(--network=host --build-arg "BASE_IMAGE=$BASE" -f "$HERE/Dockerfile" -t "$IMAGE")
# The bundle the host's pip uses: PIP_CERT, else `cert` in its pip configuration.
pip_cert=${PIP_CERT:-$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*[.]cert='\(.*\)'$/\1/p" | head -1)}
if [ -n "$pip_cert" ] && [ -f "$pip_cert" ]; then
  build_args+=(-v "$pip_cert:/run/build-host-ca.crt:ro" --build-arg PIP_CERT=/run/build-host-ca.crt)
fi
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
podman build --quiet "${build_args[@]}" . >/dev/null
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true # the last run's image, untagged now: its layers not shared go
fi
lap "image build"

# The capabilities and security options exactly as devcontainer.json's runArgs name them (its comments are
# lines of their own, so dropping them leaves JSON).
mapfile -t run_args < <(python3 -c '
import json, sys
text = "".join(line for line in open(sys.argv[1]) if not line.lstrip().startswith("//"))
print("\n".join(a for a in json.loads(text)["runArgs"] if a.startswith(("--cap-add", "--security-opt"))))
' "$HERE/devcontainer.json")
echo "Running the lab's end-to-end check in it: podman run --network=none ${run_args[*]} ..."
podman run --rm --network=none "${run_args[@]}" "$IMAGE" "$HERE/lab-check.sh"
lap "lab check in the container"
