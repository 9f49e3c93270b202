# Gatehouse image: the `gatehouse` gateway node and the `gatehouse-ingress` Kubernetes controller.
#
#   docker build -t gatehouse:latest .
#   docker run --rm -p 8000:8000 -p 8001:8001 -e KONG_ADMIN_LISTEN=0.0.0.0:8001 gatehouse:latest
#   (with no database settings the node uses SQLite under /gatehouse; see deploy/README.md for Kubernetes)
#
# The controller runs from the same image: command `gatehouse-ingress`.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and compiled dependencies between builds (BuildKit); the binaries are
# copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gatehouse-node -p gatehouse-ingress \
    && mkdir -p /out \
    && cp target/release/gatehouse target/release/gatehouse-ingress /out/

FROM debian:bookworm-slim
# ca-certificates follows the distribution's updates rather than a pinned version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid gatehouse --home-dir /gatehouse --shell /usr/sbin/nologin gatehouse \
    && mkdir -p /gatehouse \
    && chown gatehouse:gatehouse /gatehouse
COPY --from=build /out/gatehouse /out/gatehouse-ingress /usr/local/bin/
# The node's working directory (prefix): the SQLite database when no other is configured. Mount a volume
# here when the root filesystem is read-only.
ENV KONG_PREFIX=/gatehouse
WORKDIR /gatehouse
# Numeric, so that Kubernetes can check runAsNonRoot.
USER 10001:10001
# proxy, proxy TLS, Admin API, status
EXPOSE 8000 8443 8001 8007
CMD ["gatehouse", "start"]
