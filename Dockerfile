# One image for web (gunicorn), the Celery worker and beat.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock && useradd --create-home --uid 1000 dosewise
COPY . .
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput && chown -R dosewise /app
USER dosewise
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
