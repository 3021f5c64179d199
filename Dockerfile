# The PatrolWatch image: ingest worker, dashboard (gunicorn) and simulator share it.
# docker-compose.yml builds it and picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies and code first, configuration last: editing config/ does not reinstall.
COPY pyproject.toml README.md ./
COPY patrolwatch ./patrolwatch
COPY ingest ./ingest
COPY dashboard ./dashboard
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin patrolwatch

# Defaults for running the image on its own; compose mounts ./config over them.
# Secrets (users.yaml, Mosquitto passwd/acl) are kept out by .dockerignore.
COPY config ./config

USER patrolwatch
EXPOSE 8050
CMD ["patrolwatch", "--help"]
