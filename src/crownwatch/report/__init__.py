"""Reports: a self-contained HTML page, its PDF, and the incident as a STIX bundle."""
