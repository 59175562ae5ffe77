"""The workbench: FastAPI, server-rendered pages with HTMX and ECharts, and a JSON API."""
