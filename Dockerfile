# syntax=docker/dockerfile:1
# A minimal image of ecr-reconcile: one static (musl) binary, CA certificates for
# HTTPS to AWS, a non-root user; nothing else (no shell).
#
#   docker build -t ecr-reconcile .
#   docker run --rm -v "$PWD:/data" -e AWS_REGION -e AWS_ACCESS_KEY_ID \
#     -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN ecr-reconcile plan desired/
#
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 .
# (each platform builds natively in its own builder stage).

ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22

FROM rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS build
# musl-dev and gcc: the C parts (aws-lc, mimalloc); binutils: the static check below.
# Versions come with the pinned Alpine release (its branch only takes fixes).
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev gcc make binutils ca-certificates
WORKDIR /src
COPY . .
# On Alpine the host target is musl, linked statically. The cache mounts keep the
# registry and the build between builds of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --profile dist --bin ecr-reconcile \
 && cp target/dist/ecr-reconcile /ecr-reconcile
# Fail the build if the binary needs any shared library.
RUN readelf -d /ecr-reconcile >/tmp/dynamic \
 && if grep NEEDED /tmp/dynamic; then echo "ecr-reconcile is not statically linked" >&2; exit 1; fi \
 && /ecr-reconcile --version \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/data /rootfs/home/nonroot /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >/rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' >/rootfs/etc/group

FROM scratch
COPY --from=build /rootfs/etc /etc
COPY --from=build --chown=65532:65532 /rootfs/data /data
COPY --from=build --chown=65532:65532 /rootfs/home/nonroot /home/nonroot
COPY --from=build --chown=65532:65532 /rootfs/tmp /tmp
COPY --from=build /ecr-reconcile /usr/local/bin/ecr-reconcile
ENV HOME=/home/nonroot \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    TMPDIR=/tmp
USER 65532:65532
# Mount the desired-state files here; journals are written under it by default.
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/ecr-reconcile"]
CMD ["--help"]
