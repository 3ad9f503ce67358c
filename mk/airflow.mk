# Local Airflow for the training DAG (included by the Makefile). Everything lives in .airflow/ (gitignored).
#   make airflow            standalone Airflow (scheduler, API server + UI, DAG processor, triggerer), local mode
#   make airflow-dag-test   one run of the whole DAG from the command line, no server
#   make airflow-test       the DAG tests (integrity, local mode, ECS mode against moto)
AIRFLOW_LOCAL_HOME ?= $(CURDIR)/.airflow
AIRFLOW_HOST ?= 127.0.0.1
AIRFLOW_PORT ?= 8080
AIRFLOW_DATA ?= $(abspath $(DATA))
AIRFLOW_STORE ?= $(abspath $(STORE))
AIRFLOW_CONF ?= {}
AIRFLOW_RUN_ENV = \
	PATH=$(abspath $(BIN)):$$PATH \
	AIRFLOW_HOME=$(AIRFLOW_LOCAL_HOME) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=$(AIRFLOW_HOST) \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	SENTIMENT_PIPELINE_MODE=local \
	SENTIMENT_PIPELINE_DATA=$(AIRFLOW_DATA) \
	SENTIMENT_PIPELINE_STORE=$(AIRFLOW_STORE) \
	SENTIMENT_PIPELINE_PROJECT_DIR=$(CURDIR) \
	BENTOML_DO_NOT_TRACK=true

.PHONY: airflow airflow-dag-test airflow-test

## Standalone Airflow with the sentiment_training DAG in local mode; UI on http://127.0.0.1:8080
## (user admin; its generated password is printed and kept in .airflow/simple_auth_manager_passwords.json.generated).
airflow: venv $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE))
	@echo "Airflow UI: http://$(AIRFLOW_HOST):$(AIRFLOW_PORT)  (DAG sentiment_training, local mode, store $(AIRFLOW_STORE))"
	$(AIRFLOW_RUN_ENV) $(BIN)/airflow standalone

## One run of the whole DAG in local mode without a server; AIRFLOW_CONF='{"epochs": 1}' fills in the form.
airflow-dag-test: venv $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE))
	$(AIRFLOW_RUN_ENV) $(BIN)/airflow db migrate >/dev/null
	$(AIRFLOW_RUN_ENV) $(BIN)/airflow dags test sentiment_training -c '$(AIRFLOW_CONF)'

airflow-test: venv
	$(BIN)/pytest -q tests/deploy
