# Local Airflow for the training DAG (included by the Makefile). Everything lives in .airflow/ (gitignored).
#   make airflow            standalone Airflow (scheduler, API server + UI, DAG processor, triggerer), local mode
#   make airflow-dag-test   one run of the whole DAG from the command line, no server
#   make airflow-test       the DAG tests (integrity, local mode, ECS mode against moto)
AIRFLOW_LOCAL_HOME ?= $(CURDIR)/.airflow
# Every server `make airflow` starts listens on AIRFLOW_HOST (loopback: nothing on the network), on these ports:
# the API server + UI, the scheduler's log server (the LocalExecutor's task logs) and the triggerer's log server.
AIRFLOW_HOST ?= 127.0.0.1
AIRFLOW_PORT ?= 8080
AIRFLOW_WORKER_LOG_PORT ?= 8793
AIRFLOW_TRIGGERER_LOG_PORT ?= 8794
# Where the processes reach those servers (a wildcard AIRFLOW_HOST is reached on loopback)
AIRFLOW_REACH_HOST = $(if $(filter 0.0.0.0 :: [::],$(AIRFLOW_HOST)),127.0.0.1,$(AIRFLOW_HOST))
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
# The servers' settings. Airflow has no host setting for its log servers (they bind every interface):
# sentiment_pipeline.deploy.airflow_standalone starts standalone's components so they bind SENTIMENT_AIRFLOW_HOST.
AIRFLOW_SERVE_ENV = \
	$(AIRFLOW_RUN_ENV) \
	SENTIMENT_AIRFLOW_HOST=$(AIRFLOW_HOST) \
	AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$(AIRFLOW_WORKER_LOG_PORT) \
	AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$(AIRFLOW_TRIGGERER_LOG_PORT) \
	AIRFLOW__CORE__HOSTNAME_CALLABLE=sentiment_pipeline.deploy.airflow_standalone.log_server_hostname \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://$(AIRFLOW_REACH_HOST):$(AIRFLOW_PORT)/execution/ \
	AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST=$(AIRFLOW_HOST)

.PHONY: airflow airflow-dag-test airflow-test

## Standalone Airflow with the sentiment_training DAG in local mode; UI on http://127.0.0.1:8080
## (user admin; its generated password is printed and kept in .airflow/simple_auth_manager_passwords.json.generated).
## Everything listens on AIRFLOW_HOST (127.0.0.1): AIRFLOW_PORT (8080), AIRFLOW_WORKER_LOG_PORT (8793) and
## AIRFLOW_TRIGGERER_LOG_PORT (8794).
airflow: venv $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE))
	@echo "Airflow UI: http://$(AIRFLOW_REACH_HOST):$(AIRFLOW_PORT)  (DAG sentiment_training, local mode, store $(AIRFLOW_STORE));" \
		"log servers on $(AIRFLOW_HOST):$(AIRFLOW_WORKER_LOG_PORT) and :$(AIRFLOW_TRIGGERER_LOG_PORT)"
	$(AIRFLOW_SERVE_ENV) $(BIN)/python -m sentiment_pipeline.deploy.airflow_standalone standalone

## One run of the whole DAG in local mode without a server; AIRFLOW_CONF='{"epochs": 1}' fills in the form.
airflow-dag-test: venv $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE))
	$(AIRFLOW_RUN_ENV) $(BIN)/airflow db migrate >/dev/null
	$(AIRFLOW_RUN_ENV) $(BIN)/airflow dags test sentiment_training -c '$(AIRFLOW_CONF)'

airflow-test: venv
	$(BIN)/pytest -q tests/deploy
