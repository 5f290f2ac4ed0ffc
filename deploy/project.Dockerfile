# One project: the local hub (`python -m hub.local_hub`) on port 6000 as the project's
# user `user` (uid 1000), HOME=/home/user (mount the project's volume there), with
# bash, ipykernel and common tools for the commands, terminals and kernels it runs.
#
#   docker build -f deploy/project.Dockerfile -t hub-project:0.1.0 .   (repository root)
#
# The hub finds it through the template runner (HUB_PROJECT_RUNNER=template): before
# the local hub starts, HOME/.smc/secret_token must hold the project's token,
# HMAC-SHA256(key, project_id) hex; deploy/k8s/project.yaml's init step writes it.
# The local hub keeps that token (it only makes a new one when none is there).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini reaps the orphans that users' commands leave behind (the daemon is not an init).
# Not pinned: each build takes the suite's current (security-fixed) versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       tini bash procps less nano git curl ca-certificates util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --create-home --shell /bin/bash user

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
RUN pip install . ipykernel \
    && python -m ipykernel install --prefix /usr/local --name python3 \
    && rm -rf /src

USER 1000:1000
WORKDIR /home/user
ENV HOME=/home/user \
    USER=user \
    SHELL=/bin/bash \
    LANG=C.UTF-8
EXPOSE 6000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 6000), 2).close()"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "hub.local_hub", "--home", "/home/user", "--host", "0.0.0.0", "--port", "6000"]
