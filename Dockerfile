# syntax=docker/dockerfile:1
# Build: docker build -t castellan .
# Run:   docker run -p 8080:8080 -v castellan-data:/app/data -v castellan-keys:/app/keys castellan
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY benches ./benches
RUN cargo build --release --locked --bin castellan

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app castellan \
    && mkdir -p /app/data /app/keys \
    && chown castellan /app/data /app/keys
COPY --from=build /src/target/release/castellan /usr/local/bin/castellan
WORKDIR /app
USER castellan
ENV CASTELLAN_LISTEN=0.0.0.0:8080 \
    CASTELLAN_DATABASE_URL=sqlite:///app/data/castellan.db \
    CASTELLAN_MASTER_KEY_FILE=/app/keys/master.key
VOLUME ["/app/data", "/app/keys"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["castellan"]
CMD ["serve"]
