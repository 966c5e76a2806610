"""Batch execution: durable jobs with one row per item, claimed and run by an engine.

``jobs.api`` is the interface (task specs, item handlers, the engine protocol, item state
changes); ``jobs.local`` is the local process-pool engine; ``jobs.celery_app``,
``jobs.celery_engine`` and ``jobs.celery_worker`` are the Celery engine (enqueue, and what
``certsvc worker`` runs).
"""
