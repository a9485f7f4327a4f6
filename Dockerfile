# syntax=docker/dockerfile:1
# The `eirl` command-line tool in a small image, for the SEED deployment in deploy/ (learner and
# actors run the same image: `eirl seed serve ...` / `eirl seed actor ...`).
#
#   docker build -t eirl:latest .
#
# RUST_VERSION defaults to the workspace's rust-version (Cargo.toml); both stages use the same
# Debian release so the binary finds the glibc it was linked against.
ARG RUST_VERSION=1.85
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The whole workspace: every member's manifest and targets are needed to resolve the build, and
# configs/ and python/ are compiled into the binary (include_str!).
COPY . .
# Cache mounts keep the crates.io downloads and compiled dependencies between builds, so a source
# change recompiles only the workspace crates. The binary is copied out of the cached target/.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin eirl \
    && install -D -m 0755 target/release/eirl /out/eirl

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# No TLS or other shared libraries beyond glibc are used. Gymnasium environments (`gym:<id>`)
# would also need python3 with gymnasium; the built-in environments need nothing else.
RUN groupadd --system --gid 10001 eirl \
    && useradd --system --uid 10001 --gid eirl --home-dir /data --create-home eirl
COPY --from=build /out/eirl /usr/local/bin/eirl
USER 10001:10001
WORKDIR /data
ENV RUST_LOG=info
EXPOSE 50051
ENTRYPOINT ["eirl"]
CMD ["--help"]
