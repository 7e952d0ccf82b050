"""The threat-intelligence knowledge base: STIX 2.1 objects, importers, exporters."""
