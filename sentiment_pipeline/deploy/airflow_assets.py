"""The Airflow assets the DAGs share (imported by the DAG files only: it needs Airflow's task SDK)."""

from __future__ import annotations

from airflow.sdk import Asset

# An event on it means "the served model drifted: train again". sentiment_monitoring's `request_retrain` emits it
# (form param retrain_on_drift); sentiment_training is scheduled on it when SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT is set.
RETRAIN_ASSET = Asset("sentiment_pipeline_retrain", group="sentiment_pipeline")
