# syntax=docker/dockerfile:1
#
# The sms-tracker image: a release build of the tracker on a distroless, non-root runtime.
#
# NOT BUILT HERE: the development machine has no container engine, so this file has not been run;
# it is kept deliberately simple. Build with BuildKit (the default in current Docker):
#   docker build -t ghcr.io/example/sms-tracker:0.1.0 .
# The Helm chart's default image is ghcr.io/example/sms-tracker:<appVersion>, and it runs the
# container as uid 65532, the distroless `nonroot` user.

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

# The runtime has glibc, libgcc, libssl3 and CA certificates, and nothing else: fail the build
# here, not at start-up, if the binary needs any other shared library.
RUN ldd /out/sms-tracker \
    && ! ldd /out/sms-tracker | grep -vE 'linux-vdso|ld-linux|lib(c|m|dl|rt|pthread|gcc_s|ssl|crypto)\.so'

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/sms-tracker /usr/local/bin/sms-tracker
# 65532 = nonroot in distroless; the chart sets runAsUser 65532 and a read-only root filesystem.
USER 65532:65532
# /metrics, /healthz, /readyz (SMS_TRACKER_HTTP_LISTEN, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sms-tracker"]
