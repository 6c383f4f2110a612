"""Reusable pytest fixtures (a real SMTP server, Celery eager or on Redis); see smtp.py and celery.py."""
