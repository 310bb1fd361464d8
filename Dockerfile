# The repochat image: the API (`repochat serve`) and Hatchet workers (`repochat worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 REPOCHAT_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --create-home repochat && mkdir -p /data && chown repochat /data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER repochat
EXPOSE 8000
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["repochat", "serve", "--host", "0.0.0.0", "--port", "8000"]
