"""Pages (HTML) and the JSON API: thin, they call ``web.services``."""
