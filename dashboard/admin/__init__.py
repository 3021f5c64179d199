"""The admin page: the history access log and recent ingest rejections (admin role only)."""
