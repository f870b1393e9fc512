#!/usr/bin/env bash
# Builds the tracker's container image (localhost/sms-tracker:local) here, offline, with podman:
#   1. Debian's podman, runc and mmdebstrap, installed when missing;
#   2. a runtime base: a minimal Debian root filesystem (glibc, libgcc, libssl3, CA certificates,
#      a `nonroot` user 65532 as in distroless) made by mmdebstrap from this machine's own apt
#      sources and imported as a local image; cached under target/image, keyed by its recipe;
#   3. the release binary, built as the Dockerfile's Rust stage builds it (zlib linked
#      statically, as the distroless runtime has no libz);
#   4. `podman build --pull=never` of the repository's Dockerfile on that base (BINARY_FROM=prebuilt).
# No registry is reachable from these machines: neither the Dockerfile's distroless runtime nor
# its Rust builder image is used here (see the Dockerfile's header).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "Tools: podman, runc, mmdebstrap"
install_podman_tools
echo "$(podman --version), $(runc --version | head -n1), mmdebstrap $(mmdebstrap --version | awk '{print $2}')"

# The base must be the host's Debian release (the binary is linked against the host's glibc and
# libssl), from the apt sources the machine already uses (the mirror it is set up to reach).
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || sources=/etc/apt/sources.list
packages=ca-certificates,libssl3
# An mmdebstrap hook: $1 is the new root filesystem, expanded when the hook runs.
# shellcheck disable=SC2016
nonroot_user='echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" >>"$1/etc/passwd"
echo "nonroot:x:65532:" >>"$1/etc/group"
install -d -m 0700 -o 65532 -g 65532 "$1/home/nonroot"'
recipe_key=$( (echo "$suite essential $packages" && echo "$nonroot_user" && cat "$sources") | sha256sum | cut -c1-12)
base_tar="$IMAGE_WORK/base-$suite-$recipe_key.tar"
base_image="localhost/sms-tracker-base:$suite-$recipe_key"

step "Runtime base $base_image (Debian $suite, essential + $packages, from $sources)"
if [[ -f $base_tar ]]; then
  echo "root filesystem cached: $base_tar"
else
  rm -f "$IMAGE_WORK"/base-*.tar
  partial="$IMAGE_WORK/partial-base.tar"
  mmdebstrap --quiet --format=tar --variant=essential --include="$packages" --customize-hook="$nonroot_user" \
    "$suite" "$partial" "$sources"
  mv "$partial" "$base_tar"
  echo "root filesystem built: $base_tar ($(du -h "$base_tar" | cut -f1))"
fi
if project_podman image exists "$base_image"; then
  echo "image already imported"
else
  project_podman import --quiet "$base_tar" "$base_image" >/dev/null
  echo "imported"
fi

step "Release binary (zlib linked statically: LIBZ_SYS_STATIC in .cargo/config.toml)"
cargo build --release --locked --bin sms-tracker
context="$IMAGE_WORK/context"
rm -rf "$context"
install -D -m 0755 target/release/sms-tracker "$context/target/release/sms-tracker"

step "podman build --pull=never: Dockerfile on $base_image, prebuilt binary"
if ! project_podman build --pull=never -f Dockerfile \
  --build-arg RUNTIME_BASE="$base_image" --build-arg BINARY_FROM=prebuilt \
  --tag "$IMAGE_TAG" "$context" >"$IMAGE_WORK/build.log" 2>&1; then
  tail -n 30 "$IMAGE_WORK/build.log" >&2
  echo "image: podman build failed (whole log: $IMAGE_WORK/build.log)" >&2
  exit 1
fi
# The libraries the binary needs, as ldd found them on the base during the build.
sed -n '/ldd \/out\/sms-tracker/,/^-->/p' "$IMAGE_WORK/build.log" | grep '=>' || true
# Earlier builds of the tag are left untagged: drop them so the storage does not grow.
project_podman image prune --force >/dev/null
project_podman image inspect --format "built $IMAGE_TAG: {{.Id}}, {{.Size}} bytes, user {{.Config.User}}" "$IMAGE_TAG"
echo "image: built in $((SECONDS - started)) s"
