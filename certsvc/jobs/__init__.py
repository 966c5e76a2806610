"""Batch execution: durable jobs with one row per item, claimed and run by an engine.

``jobs.api`` is the interface (task specs, item handlers, the engine protocol, item state
changes); ``jobs.local`` is the local process-pool engine.
"""
