"""History beyond ``PATROL_HOT_HOURS``: Parquet by UTC day, one archiver, read with DuckDB."""
