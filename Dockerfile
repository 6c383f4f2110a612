# Production image of Italy From Couch: one image for web (uvicorn), the Celery worker and beat.
# ITALYCOUCH_ENV=production and every secret come from docker-compose.yml (or the platform) at run
# time; nothing secret is baked into the image.

# --- Stage 1: TypeScript -> static/build (Node exists only in this stage) -----------------------
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY build.mjs tsconfig.json ./
COPY static/src static/src
RUN npm run build

# --- Stage 2: the Python application ------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .
COPY --from=assets /src/static/build static/build

# Production settings serve static files through WhiteNoise's manifest storage, so the manifest
# (staticfiles.json) must be built with those settings. The values below exist only for this one
# command, satisfy the production start-up checks, and are never used to serve anything.
RUN ITALYCOUCH_ENV=production \
    SECRET_KEY=build-time-only-collectstatic-key-never-used-to-sign-anything \
    DATABASE_URL=postgres://build.invalid/unused \
    REDIS_URL=redis://build.invalid:6379/0 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput -v 0

# Run as a non-root user with numeric ids (so a runtime can verify it is not root); it may write
# only to the media directory, a volume in docker-compose.yml.
RUN groupadd --system --gid 10001 italycouch \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin italycouch \
    && mkdir -p /data/media \
    && chown 10001:10001 /data/media
USER 10001:10001

EXPOSE 8000
CMD ["python", "-m", "italycouch.server", "--host", "0.0.0.0", "--port", "8000"]
