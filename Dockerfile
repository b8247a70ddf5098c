# medrec container image.
#
#   docker build -t medrec .
#   docker run --rm -p 127.0.0.1:8080:8080 -v medrec-data:/var/lib/medrec medrec
#
# Without MEDREC_MONGODB_URI the server starts the embedded database (SecantusDB, single node,
# for development and trials) in /var/lib/medrec; in production point MEDREC_MONGODB_URI at a
# MongoDB replica set (see compose.yaml and docs/deployment.md).
#
# Written without a Docker daemon at hand: see docs/deployment.md.

# Builder and runtime must be the same image: the virtual environment links to its Python.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# uv from PyPI (the same tool the project uses everywhere else), pinned for reproducible builds.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# - the image's own Python, never a downloaded one;
# - compile bytecode at install time (the runtime user cannot write __pycache__);
# - copy, do not hard-link, files into the environment; keep no cache in the layer.
ENV UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

# Then the project itself (hatchling needs README.md, named as the readme in pyproject.toml).
COPY README.md LICENSE ./
COPY fhir_server ./fhir_server
COPY ingestion ./ingestion
COPY terminology ./terminology
COPY smart_auth ./smart_auth
RUN uv sync --locked --no-dev \
    && /app/.venv/bin/python -m compileall -q fhir_server ingestion terminology smart_auth

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# The licence of medrec itself. The image also contains its dependencies under their own
# licences, among them SecantusDB (GPL-2.0, run as a separate process, never imported).
LABEL org.opencontainers.image.title="medrec" \
      org.opencontainers.image.description="FHIR R4 server on MongoDB" \
      org.opencontainers.image.licenses="Apache-2.0"

# Tesseract's English language data (OCR of scans runs in-process through tesserocr, whose
# wheel bundles libtesseract) and zbar (the fallback 1D barcode reader).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr-eng libzbar0 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 medrec \
    && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/medrec --shell /usr/sbin/nologin medrec \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/medrec

# The virtual environment and the source it points to (the project is installed editable, so
# both stay at /app). Owned by root: the server cannot modify its own code.
COPY --from=builder /app /app

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDREC_HOST=0.0.0.0 \
    MEDREC_PORT=8080 \
    MEDREC_DATA_DIR=/var/lib/medrec

WORKDIR /app
VOLUME ["/var/lib/medrec"]
EXPOSE 8080
USER 10001:10001

# No curl in the slim image: Python's urllib, ignoring any *_proxy variables. Follows
# MEDREC_PORT (not a --port option given on the command line).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('MEDREC_PORT', '8080'), timeout=4)"]

CMD ["medrec", "serve"]
