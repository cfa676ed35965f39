#!/usr/bin/env bash
# The traffic lab end to end, as a learner runs it by hand (terraform/README.md "Against the emulator"), inside
# the course image: `make image-test` runs it in a container with the dev container's capabilities.
#   1. the emulator; 2. terraform/ applied with plain Terraform from `helpers env`; 3. `lab up`;
#   4. https://app.ecs-alb.example/ through the lab (Route 53 alias, the ALB's nodes, nginx) until it answers
#      200, bounded by HEALTHY_WITHIN; 5. `lab down` and the emulator stopped, also on failure.
# Exit 0 only when the lab answered 200 and left no namespace behind.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
URL=https://app.ecs-alb.example/ # terraform/zone.tf's default domain when no zone is given
# Seconds for the tasks to start and their targets to pass the health checks (tests/support/lab_e2e_support.py
# waits 120 s for the same), with margin for a shared CPU.
HEALTHY_WITHIN=240
began=$SECONDS
say() { echo "[lab-check +$((SECONDS - began))s] $*"; }

stack=$(mktemp -d)/ecs-alb
finish() {
  say "lab down: $("$PY" -m helpers lab down 2>&1 | tail -1)"
  "$PY" -m helpers emulator stop >/dev/null 2>&1 || true
  rm -rf "$(dirname "$stack")"
}
trap finish EXIT

say "emulator: $("$PY" -m helpers emulator start 2>&1 | tail -1)"
cp -r terraform "$stack"
"$PY" -m helpers override "$stack" >/dev/null
eval "$("$PY" -m helpers env)"
say "terraform: $(command -v terraform)"
(cd "$stack" && terraform init -input=false -no-color >/dev/null && terraform apply -input=false -auto-approve -no-color | tail -1)
say "terraform/ applied"
"$PY" -m helpers lab up
say "lab up"

up_at=$SECONDS
answer=""
while [ $((SECONDS - up_at)) -lt "$HEALTHY_WITHIN" ]; do
  # `lab curl` prints the reply (status line, headers, body) or "curl: <error>"; 503 while no target is healthy.
  answer=$("$PY" -m helpers lab curl "$URL" --timeout 10 2>&1 || true)
  case "$answer" in "HTTP/1.1 200"*) break ;; esac
  sleep 3
done
say "$URL answered: $(head -1 <<<"$answer")"
echo "$answer" | sed -n '1,12p'
case "$answer" in "HTTP/1.1 200"*) ;; *)
  echo "lab-check: no 200 within ${HEALTHY_WITHIN} s of lab up" >&2
  "$PY" -m helpers lab status >&2 || true
  exit 1 ;;
esac
"$PY" -m helpers lab down
trap - EXIT
"$PY" -m helpers emulator stop >/dev/null 2>&1 || true
left=$(ip netns list) # the container began with none: any left is the lab's
if [ -n "$left" ]; then
  echo "lab-check: lab down left network namespaces: $left" >&2
  exit 1
fi
say "done: the lab answered 200 and is down"
