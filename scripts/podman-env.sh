# Sourced by scripts/image.sh and scripts/image-check.sh (from the repository root): podman as
# this project runs it, with its storage and settings under target/image, so nothing system-wide
# is configured and a fresh clone starts from nothing. Sourcing it writes the settings file and
# exports CONTAINERS_CONF.
# shellcheck shell=bash

IMAGE_WORK="$PWD/target/image"
# shellcheck disable=SC2034 # used by the scripts that source this file
IMAGE_TAG="localhost/sms-tracker:local"

# Installs Debian's podman, runc and mmdebstrap when one is missing (as install-prometheus.sh).
install_podman_tools() {
  local missing=()
  for tool in podman runc mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "podman-env: ${missing[*]} missing; install Debian's podman, runc and mmdebstrap as root" >&2
    return 1
  fi
  echo "installing Debian's podman, runc and mmdebstrap (missing: ${missing[*]})..."
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman runc mmdebstrap >/dev/null
}

# The settings podman needs on these machines, in a file of its own (CONTAINERS_CONF):
# - runc, not crun: crun refuses the hybrid cgroup layout here ("cgroups in hybrid mode not
#   supported");
# - default ulimits capped: podman's defaults for root lie above the hard limits a process may
#   raise to here, and the container then fails to start;
# - cgroupfs and a file for events: there is no systemd (nor journald).
# Storage goes on the command line (--root/--runroot): a storage.conf written on each run makes
# podman wait about 20 s.
write_podman_conf() {
  mkdir -p "$IMAGE_WORK"
  cat >"$IMAGE_WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF="$IMAGE_WORK/containers.conf"
}

write_podman_conf

# podman with this project's storage.
project_podman() {
  podman --root "$IMAGE_WORK/storage" --runroot "$IMAGE_WORK/run" "$@"
}
