# syntax=docker/dockerfile:1
# Build: docker build -t castellan .
# Run:   see "Container" in README.md (read-only root, data/ and keys/ as volumes).
# tests/container.rs checks that the names, port and paths here match the project.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# Cargo.toml names a bench target, so its file must exist for the manifest to load.
COPY benches ./benches
RUN cargo build --release --locked --bin castellan

FROM debian:bookworm-slim
# Nothing is installed: the HEALTHCHECK is the binary's own `castellan healthcheck`.
RUN groupadd --system --gid 10001 castellan \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin castellan \
    && mkdir -p /app/data /app/keys \
    && chown 10001:10001 /app/data /app/keys \
    && chmod 0700 /app/data /app/keys
COPY --from=build /src/target/release/castellan /usr/local/bin/castellan
# The defaults are relative to the working directory: the database at data/castellan.db and
# the key-encryption key at keys/master.key, so under /app they land on the two volumes.
WORKDIR /app
VOLUME ["/app/data", "/app/keys"]
USER 10001:10001
ENV CASTELLAN_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["castellan", "healthcheck", "--path", "/readyz"]
ENTRYPOINT ["castellan"]
CMD ["serve"]
