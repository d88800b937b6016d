# syntax=docker/dockerfile:1
# The gpupool-operator image: a Release build on Debian 12, run as a non-root
# user on debian:12-slim with only the libraries the binary links.
#   docker build -t gpupool-operator:0.1.0 .
# tests/helm checks (ldd + dpkg -S on the built binary) that the runtime
# stage's package list covers every library the operator links.

FROM debian:12 AS build
# The build dependencies of scripts/setup.sh (without the test and lint tools).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev \
      libcpprest-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DGPUPOOL_BUILD_TESTS=OFF -DGPUPOOL_BUILD_BENCH=OFF \
 && cmake --build /build --target gpupool-operator -j "$(nproc)" \
 && strip /build/bin/gpupool-operator

FROM debian:12-slim
# Runtime libraries, one package a line (tests/helm parses this list), and
# tzdata for the time zones of autoscaling schedules (/usr/share/zoneinfo):
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libcurl4 \
      libssl3 \
      libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libcivetweb1 \
      tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 gpupool \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin gpupool
COPY --from=build /build/bin/gpupool-operator /usr/local/bin/gpupool-operator
# The Helm chart's securityContext runs as this user too (runAsUser 65532).
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/gpupool-operator"]
CMD ["run", "--health-addr=0.0.0.0:8081", "--metrics-addr=0.0.0.0:8080"]
