"""Run records: where they live (``store``: a folder or an S3 prefix), what a record holds (``record``: the
contract in docs/run-record.md) and the runs index page (``index``). Standard library only at import time."""
