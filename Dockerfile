# syntax=docker/dockerfile:1
#
# The sms-tracker image: a release build of the tracker on a distroless, non-root runtime.
#
# Published build (the defaults): the binary is built in the Rust stage below and copied onto
# distroless. Needs BuildKit (the default in current Docker), which builds only the stages used:
#   docker build -t ghcr.io/example/sms-tracker:0.1.0 .
# The Helm chart's default image is ghcr.io/example/sms-tracker:<appVersion>, and it runs the
# container as uid 65532, the distroless `nonroot` user.
#
# What is built and run here (scripts/image.sh, scripts/image-check.sh): the development machines
# reach no container registry, so neither base image below is pulled and the Rust stage has NOT
# been built here. Instead podman builds this file with
#   --build-arg RUNTIME_BASE=<a local Debian 12 base made by mmdebstrap> --build-arg BINARY_FROM=prebuilt
# which copies a binary built on the host the same way (release, --locked, zlib linked
# statically) into the `prebuilt` stage and checks its libraries there. The distroless runtime
# itself has not been run here.

# The runtime has glibc, libgcc, libssl3 and CA certificates, and nothing else: the binary may
# need no other shared library (checked with ldd in whichever stage provides the binary).
ARG RUNTIME_LIBRARIES='linux-vdso|ld-linux|lib(c|m|dl|rt|pthread|gcc_s|ssl|crypto)\.so'
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot
# `builder` (compile here) or `prebuilt` (copy target/release/sms-tracker from the build context).
ARG BINARY_FROM=builder

# Same toolchain as development (rustc 1.95); Debian 12 to match the runtime's glibc.
FROM rust:1.95-bookworm AS builder

# rdkafka builds the bundled librdkafka with its own ./configure and make (no cmake): it needs a C
# toolchain, pkg-config and the OpenSSL headers (feature "ssl"). zstd is built from source by
# zstd-sys; zlib is linked statically (LIBZ_SYS_STATIC) because the distroless runtime has no
# libz.so.1. Most of these are already in the rust image; listed so the build does not depend on it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev python3 \
    && rm -rf /var/lib/apt/lists/*
ENV LIBZ_SYS_STATIC=1

WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sms-tracker \
    && install -D -m 0755 target/release/sms-tracker /out/sms-tracker

ARG RUNTIME_LIBRARIES
RUN ldd /out/sms-tracker \
    && ! ldd /out/sms-tracker | grep -vE "$RUNTIME_LIBRARIES"

# A binary built outside (scripts/image.sh), checked on the runtime base itself: every library it
# needs is found there, and none is outside the distroless set. Needs a runtime base with ldd.
FROM ${RUNTIME_BASE} AS prebuilt
COPY target/release/sms-tracker /out/sms-tracker
ARG RUNTIME_LIBRARIES
RUN ldd /out/sms-tracker \
    && ! ldd /out/sms-tracker | grep -F 'not found' \
    && ! ldd /out/sms-tracker | grep -vE "$RUNTIME_LIBRARIES"

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE}
COPY --from=binary /out/sms-tracker /usr/local/bin/sms-tracker
# 65532 = nonroot in distroless; the chart sets runAsUser 65532 and a read-only root filesystem.
USER 65532:65532
# /metrics, /healthz, /readyz (SMS_TRACKER_HTTP_LISTEN, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sms-tracker"]
