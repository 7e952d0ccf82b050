"""Alerts to incidents: entities, time and the kill chain."""
