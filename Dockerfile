# minik's image: `minik` (API server, scheduler, node agent) and `miniktl`.
#
# Two ways to build it, chosen with the build target:
# - `runtime` (the default, last stage): a normal multi-stage build from source; needs internet
#   access for the Rust and Debian base images and the crates.
#       docker build -t minik/minik:lab .
# - `prebuilt` (first stage, FROM scratch): no base image, no network. It copies a root filesystem
#   staged on the host in target/lab/rootfs: the host-built binaries plus the shared libraries
#   `ldd` lists for them (and busybox-static for the health checks). See README, "Lab".
#       docker build --target prebuilt -t minik/minik:lab .
# BuildKit only builds the stages the target needs; the classic builder stops at the target, so
# `prebuilt` (first) never touches the `build` stage.

FROM scratch AS prebuilt
COPY target/lab/rootfs/ /
ENV PATH=/usr/local/bin:/bin
ENTRYPOINT ["/usr/local/bin/minik"]
CMD ["--help"]

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p minik \
    && install -D target/release/minik /out/minik \
    && install -D target/release/miniktl /out/miniktl

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends busybox-static ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/minik /out/miniktl /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/minik"]
CMD ["--help"]
