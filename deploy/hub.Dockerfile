# The hub: `hub serve` on port 5000 as an unprivileged user.
#
#   docker build -f deploy/hub.Dockerfile -t hub:0.1.0 .        (from the repository root)
#   docker run -p 5000:5000 -e HUB_DATABASE_URL=postgresql://… hub:0.1.0
#
# Without HUB_DATABASE_URL the hub starts its embedded PostgreSQL under
# /var/lib/hub/data (mount a volume there). Projects: the default `local` runner
# runs them inside this container as the hub's user (no per-project isolation
# without root); in Kubernetes use the `template` runner and deploy/project.Dockerfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The base image has what the hub runs besides Python (`setsid` for project daemons).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/hub --create-home \
    --shell /usr/sbin/nologin hub

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
RUN pip install . && rm -rf /src

# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/hub
ENV HUB_HOST=0.0.0.0 \
    HUB_PORT=5000 \
    HUB_DATA_DIR=/var/lib/hub/data \
    HUB_LOG_FORMAT=json
EXPOSE 5000

# /healthz is 200 once the database is ready, 503 while it is down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HUB_PORT', '5000'), timeout=2)"]

# SIGTERM: stop accepting, tell clients to reconnect, drain for HUB_SHUTDOWN_GRACE_S, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["hub"]
CMD ["serve", "--host", "0.0.0.0"]
