"""Alerters: where alerts go (snapshot JPEGs, webhooks), fed by the per-camera alert bus."""

from vsnative.alerters.base import ALERTERS, Alert, Alerter

__all__ = ["ALERTERS", "Alert", "Alerter"]
