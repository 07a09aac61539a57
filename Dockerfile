# Production image: gunicorn for web, the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# WeasyPrint (receipts and exported records as PDF) draws text with Pango; llama-cpp-python
# (the embedded LLM server) compiles llama.cpp when it is installed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
        build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY practice practice
COPY patients patients
COPY therapies therapies
COPY sessions sessions
COPY payments payments
COPY tera tera
# PyTorch (speaker labels) from its CPU index: PyPI's default Linux build of torch brings
# several GB of CUDA libraries that a CPU worker never uses.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu .
COPY . .
RUN DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY=collectstatic-only DEBUG=false ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --no-input

RUN useradd --system --home /app holos && chown -R holos /app
USER holos
EXPOSE 8000
CMD ["gunicorn", "practice.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
