# Incubator: one image for the web (ASGI) and worker (Celery) processes. Runs as a non-root user.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=incubator.settings.production

WORKDIR /app
# pg_dump, pg_restore and psql for scripts/backup.sh and scripts/restore.sh (docs/deploy.md, "Backups and restore").
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql-client > /dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements.lock ./
RUN pip install -r requirements.txt -c requirements.lock

RUN groupadd --system --gid 10001 incubator \
    && useradd --system --uid 10001 --gid incubator --home /app --shell /usr/sbin/nologin incubator
COPY --chown=incubator:incubator . .
RUN SECRET_KEY=build-only-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n') ALLOWED_HOSTS=build \
    python manage.py collectstatic --no-input -v 0 \
    && mkdir -p /app/var/media && chown -R incubator:incubator /app/var

USER incubator
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')"
# granian: measured faster than uvicorn here (bench/http_auth.py); one process per container, scale by replicas.
# The server's options (connection limits, header timeout) live in incubator/servers.py, shared with `make serve`.
CMD ["python", "-m", "incubator.servers", "granian", "--host", "0.0.0.0", "--port", "8000"]
