"""The HTTP API: the FastAPI application and its routers (TAXII 2.1 first)."""
