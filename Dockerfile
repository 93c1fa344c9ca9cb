# One image for every livefeed service; the command picks the service:
#   docker run livefeed ingest | worker | feed | push      (or `up`: everything, embedded Redis)
# Build: docker build -t livefeed .      Compose: docker compose up --build (see docs/operations.md)

# --- build: a virtualenv with livefeed and exactly the locked versions of what it needs ------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/livefeed
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# requirements.lock pins livefeed's runtime dependencies only (the test, lint and bench tools are
# in requirements-dev.lock): the image gets exactly those, each at its locked version.
RUN /opt/livefeed/bin/pip install -r requirements.lock \
 && /opt/livefeed/bin/pip install --no-deps . \
 && /opt/livefeed/bin/pip check

# --- runtime: the virtualenv, a non-root user, nothing else ------------------------------------
FROM python:3.11-slim AS runtime
COPY --from=build /opt/livefeed /opt/livefeed
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/livefeed livefeed
USER livefeed
WORKDIR /home/livefeed
ENV PATH=/opt/livefeed/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIVEFEED_HOST=0.0.0.0 \
    LIVEFEED_DATA_DIR=/home/livefeed/data \
    LIVEFEED_LOG_FORMAT=json
# ingest, feed, push, worker metrics
EXPOSE 8001 8002 8003 8004
# Each service answers GET /healthz on its own port (the worker on LIVEFEED_WORKER_METRICS_PORT);
# the check finds which service this container runs from its command line.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "services.commands.healthcheck"]
# SIGTERM: ingest drains requests, the worker finishes its job, push closes clients with 1001.
STOPSIGNAL SIGTERM
ENTRYPOINT ["livefeed"]
CMD ["up"]
