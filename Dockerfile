# syntax=docker/dockerfile:1
# One image for every part of the report service; the command chooses the part:
#   cer serve (API)   cer worker (Celery worker)   cer beat (schedules)   cer book / cer report (one-off)
# Build: docker build -t cer-notebooks:$(git describe --tags --always) .
# No secret is ever copied or passed as a build argument: they arrive at run time as environment variables.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the pinned lock into a virtual environment, then the project (editable: notebooks/ and
# parameters/ are found next to cer_lib/, so the source tree is the installed tree) ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY cer_lib ./cer_lib
COPY notebooks ./notebooks
COPY parameters ./parameters
COPY book ./book
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation -e . \
    && /opt/venv/bin/python -m ipykernel install --sys-prefix --name cer-notebooks --display-name "Python (cer-notebooks)"

# --- runtime: the system libraries WeasyPrint needs (Pango, HarfBuzz; no browser), a numeric user ------
FROM ${PYTHON_IMAGE} AS runtime
# Debian package versions are not pinned (DL3008): the bookworm security updates are wanted at each
# rebuild, and pinned versions disappear from the Debian mirror, which would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
       fonts-dejavu-core shared-mime-info \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 cer \
    && useradd --uid 10001 --gid 10001 --home-dir /home/cer --create-home --shell /usr/sbin/nologin cer \
    && mkdir -p /data/outputs /data/cache \
    && chown -R 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Writable places only under /data (a volume: outputs and caches) and /tmp (an emptyDir in Kubernetes),
# so the root filesystem can be mounted read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/cer \
    CER_OUTPUTS_DIR=/data/outputs \
    CER_CACHE_DIR=/data/cache \
    CER_API_HOST=0.0.0.0 \
    CER_API_PORT=8000 \
    CER_LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib \
    JUPYTER_RUNTIME_DIR=/tmp/jupyter-runtime \
    XDG_CACHE_HOME=/tmp/cache
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
# `cer doctor --from mirror`: versions, kernel, writable folders, the mirror; needs no network
HEALTHCHECK --interval=60s --timeout=30s --start-period=30s --retries=3 CMD ["cer", "doctor", "--from", "mirror"]
CMD ["cer", "serve"]
