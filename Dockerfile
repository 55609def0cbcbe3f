# Mirrors the README install: the same pinned versions (constraints.txt), nothing else.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VEO_DATABASE_URL=sqlite:////data/veo-bot.db \
    VEO_DATA_DIR=/data/work

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --create-home --uid 10001 veo \
    && mkdir -p /data && chown veo /data

USER veo
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["veo-bot", "run"]
