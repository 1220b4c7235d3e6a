# syntax=docker/dockerfile:1
#
# phiguard as a container: the nightly audit as a Cloud Run job (docs/deploy.md).
#
#   DOCKER_BUILDKIT=1 docker build -t phiguard:0.1.0 .
#   docker run --rm phiguard:0.1.0 --version
#
# Two stages. `build` turns the source tree into wheels (phiguard's own, and every dependency's,
# resolved from PyPI at build time). The final stage installs phiguard from those wheels alone
# (--no-index: nothing else is fetched), through a read-only bind mount of the build stage, so
# no wheel, source file or build tool is left in the image. It runs as an unprivileged user.
#
# The base is pinned by tag, not digest: a digest cannot be checked from where this file is
# written and tested (no container registry is reachable there). Pin the digest you have
# reviewed when you build, e.g. `--build-arg PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:...`.
#
# NO_GCE_CHECK is deliberately NOT set: on Cloud Run the metadata server is the credential
# source (Application Default Credentials find the job's service account there). Set it only
# where no metadata server exists and another credential source is configured.
#
# The image build is not run in phiguard's CI (no registry is reachable there); the test
# tests/test_container.py lints this file (hadolint) and runs its install steps from the
# built wheel into a fresh virtual environment.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps tests, fixtures and caches out).
COPY pyproject.toml README.md ./
COPY src ./src
COPY rules ./rules
COPY reports ./reports
# phiguard's wheel and the wheels of all its dependencies, in one directory.
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# The version this source tree builds (src/phiguard/__init__.py; a test keeps them equal).
ARG PHIGUARD_VERSION=0.1.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Installed from the build stage's wheels only; pip itself is removed afterwards, so the
# image can run phiguard and nothing that installs or builds software.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels "phiguard==${PHIGUARD_VERSION}" \
    && python -m pip uninstall --yes pip \
    && groupadd --system --gid 10001 phiguard \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/phiguard \
       --shell /usr/sbin/nologin phiguard
USER 10001:10001
WORKDIR /home/phiguard
# A Cloud Run job runs to completion: there is no server to probe, so no HEALTHCHECK.
ENTRYPOINT ["phiguard"]
CMD ["--help"]
