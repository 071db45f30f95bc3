"""The console's web plumbing: access (IAP), CSRF, charts, templates and static files."""
