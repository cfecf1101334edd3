"""An Airflow DAG gated by dvtool: validate, snapshot, then load only data that passed.

dvtool's exit codes: 0 passed, 1 the data failed, 2 could not run. A BashOperator fails
its task on any non-zero code; the commands below turn "the data failed" into a
failure that is not retried (retrying cannot fix bad data), while "could not run"
(a storage or network error) keeps Airflow's retries. docs/recipes.md explains it;
tests/test_recipes.py runs the two commands with bash (Airflow itself is not needed).
"""

from datetime import datetime, timedelta

# Exit 1 (bad data) becomes 99, which the tasks below skip on: the load never runs and the
# DAG run shows "skipped" with the report in the log. Drop the mapping to fail instead.
VALIDATE = """
dvtool validate "$DATA" --schema "$SCHEMA" --format text
status=$?
[ "$status" -eq 1 ] && { echo "data failed validation; not loading it"; exit 99; }
exit "$status"
"""

# snapshot --schema validates again and commits nothing unless the data passes.
SNAPSHOT = """
dvtool snapshot "$DATA" -d orders --key order_id --schema "$SCHEMA" -m "airflow {{ ds }}"
status=$?
[ "$status" -eq 1 ] && exit 99
exit "$status"
"""

if __name__ != "__docs__":  # the test runs the commands above without Airflow
    from airflow import DAG
    from airflow.operators.bash import BashOperator

    env = {
        "DATA": "/data/incoming/orders.csv",
        "SCHEMA": "/opt/schemas/orders.schema.yaml",
        "DVTOOL_REPO": "s3://team-bucket/datasets",  # credentials: the worker's AWS config
    }
    with DAG(
        "orders_import",
        start_date=datetime(2026, 1, 1),
        schedule="@daily",
        default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    ):
        validate = BashOperator(
            task_id="validate",
            bash_command=VALIDATE,
            env=env,
            append_env=True,
            skip_on_exit_code=99,
        )
        snapshot = BashOperator(
            task_id="snapshot",
            bash_command=SNAPSHOT,
            env=env,
            append_env=True,
            skip_on_exit_code=99,
        )
        load = BashOperator(
            task_id="load",
            bash_command="dvtool export orders /warehouse/orders.parquet",  # the version just committed
            env=env,
            append_env=True,
        )
        validate >> snapshot >> load
