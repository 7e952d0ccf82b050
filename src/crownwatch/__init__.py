"""crownwatch: intelligence-driven detection and attribution of intellectual-property theft."""

__version__ = "0.1.0"
