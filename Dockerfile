# The hoffnung node as a container image: `docker compose up` (see
# docker-compose.yml and the README) runs it against PostgreSQL.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hoffnung --bin hoffnung

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/hoffnung --create-home hoffnung
COPY --from=build /src/target/release/hoffnung /usr/local/bin/hoffnung
USER hoffnung
# Config keys as environment variables (see config.toml); the compose file adds more.
ENV HOFFNUNG_DATA_DIR=/var/lib/hoffnung \
    HOFFNUNG_HTTP_BIND=0.0.0.0 \
    HOFFNUNG_HTTP_PORT=2020 \
    HOFFNUNG_P2P_PORT=2022
EXPOSE 2020 2022/udp 2022/tcp
VOLUME /var/lib/hoffnung
ENTRYPOINT ["hoffnung"]
CMD ["node"]
