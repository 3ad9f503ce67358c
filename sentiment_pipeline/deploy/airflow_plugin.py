"""Airflow plugin (local mode): the store's reports and runs index on Airflow's web server at ``/sentiment-store``,
where the ``train`` task's extra links point; see sentiment_pipeline/deploy/store_view.py. Airflow loads it through
the package's ``airflow.plugins`` entry point (pyproject.toml), so any Airflow with the package installed has it and
no plugins folder is needed. In ECS mode it adds nothing (the links open the S3 console).

The one module of ``deploy/`` that imports Airflow at import time: only Airflow's plugin manager imports it."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from sentiment_pipeline.deploy import store_view


class SentimentStorePlugin(AirflowPlugin):
    name = "sentiment_store"
    fastapi_apps = store_view.fastapi_apps()
