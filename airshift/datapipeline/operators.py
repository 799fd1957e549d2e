"""The Airflow 3 classes generated DAGs use, with the module each is imported from.

Why one table: import paths are the part of a provider most likely to move between
releases; keeping them together makes the version floor in the report easy to audit.
"""

from __future__ import annotations

from airshift.datapipeline.pycode import Symbol

_STD = "airflow.providers.standard"
_AWS = "airflow.providers.amazon.aws"
BASH = Symbol(f"{_STD}.operators.bash", "BashOperator")
BASH_SENSOR = Symbol(f"{_STD}.sensors.bash", "BashSensor")
PYTHON = Symbol(f"{_STD}.operators.python", "PythonOperator")
PYTHON_SENSOR = Symbol(f"{_STD}.sensors.python", "PythonSensor")
EMPTY = Symbol(f"{_STD}.operators.empty", "EmptyOperator")
SQL_EXECUTE = Symbol("airflow.providers.common.sql.operators.sql", "SQLExecuteQueryOperator")
SQL_SENSOR = Symbol("airflow.providers.common.sql.sensors.sql", "SqlSensor")
S3_COPY_OBJECT = Symbol(f"{_AWS}.operators.s3", "S3CopyObjectOperator")
S3_COPY_PREFIX = Symbol(f"{_AWS}.operators.s3", "S3CopyPrefixOperator")
S3_KEY_SENSOR = Symbol(f"{_AWS}.sensors.s3", "S3KeySensor")
SQL_TO_S3 = Symbol(f"{_AWS}.transfers.sql_to_s3", "SqlToS3Operator")
S3_TO_SQL = Symbol(f"{_AWS}.transfers.s3_to_sql", "S3ToSqlOperator")
S3_TO_REDSHIFT = Symbol(f"{_AWS}.transfers.s3_to_redshift", "S3ToRedshiftOperator")
REDSHIFT_TO_S3 = Symbol(f"{_AWS}.transfers.redshift_to_s3", "RedshiftToS3Operator")
EMR_CREATE = Symbol(f"{_AWS}.operators.emr", "EmrCreateJobFlowOperator")
EMR_ADD_STEPS = Symbol(f"{_AWS}.operators.emr", "EmrAddStepsOperator")
EMR_TERMINATE = Symbol(f"{_AWS}.operators.emr", "EmrTerminateJobFlowOperator")
EMR_STEP_SENSOR = Symbol(f"{_AWS}.sensors.emr", "EmrStepSensor")
SNS_NOTIFIER = Symbol(f"{_AWS}.notifications.sns", "SnsNotifier")
DEADLINE_ALERT = Symbol("airflow.sdk", "DeadlineAlert")
DEADLINE_REFERENCE = Symbol("airflow.sdk", "DeadlineReference")
ASYNC_CALLBACK = Symbol("airflow.sdk", "AsyncCallback")
EC2_CREATE = Symbol(f"{_AWS}.operators.ec2", "EC2CreateInstanceOperator")
EC2_TERMINATE = Symbol(f"{_AWS}.operators.ec2", "EC2TerminateInstanceOperator")
SSM_RUN_COMMAND = Symbol(f"{_AWS}.operators.ssm", "SsmRunCommandOperator")
