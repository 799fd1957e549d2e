"""EMR: clusters as create/teardown-terminate tasks, and activities as steps plus a sensor.

Why together: EmrActivity, HadoopActivity, HiveActivity, PigActivity and HiveCopyActivity
all become steps on the cluster named by ``runsOn``, which is created once per DAG.
"""

from __future__ import annotations

from typing import Any

from airshift.datapipeline.builder import Chain
from airshift.datapipeline.jinja import Template, literal
from airshift.datapipeline.model import PipelineObject
from airshift.datapipeline.operators import (
    EMR_ADD_STEPS,
    EMR_CREATE,
    EMR_STEP_SENSOR,
    EMR_TERMINATE,
)
from airshift.datapipeline.staging import StagingTables
from airshift.errors import AirshiftError

# Pig with staged data: DP's LOAD statements, the script (from S3 or inline), its STOREs
_PIG_STAGED = (
    'set -e; f="$(mktemp)"; printf "%s\\n" "$1" > "$f"; '
    'if [ -n "$2" ]; then aws s3 cp "$2" - >> "$f"; else printf "%s\\n" "$3" >> "$f"; fi; '
    'printf "%s\\n" "$4" >> "$f"; shift 4; exec pig "$@" -f "$f"'
)


class EmrTasks(StagingTables):
    """Activities that run as EMR steps, and the clusters they run on."""

    def _EmrActivity(self, obj: PipelineObject) -> Chain:
        steps = []
        for text in self.p.strings(obj, "preStepCommand"):
            steps.append(
                self._bash_step(
                    obj.name + " (pre)",
                    self.tr.text(obj, text, f"object {obj.id!r} field 'preStepCommand'"),
                )
            )
        raw_steps = self.p.strings(obj, "step")
        if not raw_steps:
            raise AirshiftError(f"object {obj.id!r} field 'step' is required for EmrActivity.")
        for index, text in enumerate(raw_steps, 1):
            where = f"object {obj.id!r} field 'step'"
            parts = [
                self.tr.text(obj, piece, where).render() for piece in split_unescaped(text, where)
            ]
            steps.append(_step(f"{obj.name} step {index}", parts[0], parts[1:]))
        for text in self.p.strings(obj, "postStepCommand"):
            steps.append(
                self._bash_step(
                    obj.name + " (post)",
                    self.tr.text(obj, text, f"object {obj.id!r} field 'postStepCommand'"),
                )
            )
        for key in ("resizeClusterBeforeRunning", "resizeClusterMaxInstances"):
            if self.p.has(obj, key):
                self.notes.todo(
                    obj.id, f"{key} is not converted; size the cluster in its job_flow_overrides."
                )
        return self._emr(obj, steps)

    def _HadoopActivity(self, obj: PipelineObject) -> Chain:
        args = [t.render() for t in self.tr.fields(obj, "argument")]
        if queue := self.render(obj, "hadoopQueue"):
            args = [f"-Dmapreduce.job.queuename={queue}", *args]
        jar = self.require(obj, "jarUri").render()
        step = _step(obj.name, jar, args)
        if main := self.render(obj, "mainClass"):
            step["HadoopJarStep"]["MainClass"] = main
        steps = [*self._script_configs(obj, "preActivityTaskConfig"), step]
        steps += self._script_configs(obj, "postActivityTaskConfig")
        return self._emr(obj, steps)

    def _script(
        self, obj: PipelineObject, inline: str, flag: str
    ) -> tuple[list[str], Template | None, Template | None]:
        """A Hive or Pig activity's ``scriptVariable`` values, each after ``flag``, and its
        script: the ``inline`` field or ``scriptUri``, exactly one of them."""
        variables = [t.render() for t in self.tr.fields(obj, "scriptVariable")]
        define = [x for v in variables for x in (flag, v)]
        script, uri = self.tr.field(obj, inline), self.tr.field(obj, "scriptUri")
        if (script is None) == (uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of {inline!r} or 'scriptUri'.")
        return define, script, uri

    def _HiveActivity(self, obj: PipelineObject) -> Chain:
        define, script, uri = self._script(obj, "hiveScript", "-d")
        steps, tables = [], []
        for variable, node in self._staged(obj):
            if self.p.type_of(node) != "S3DataNode":
                self.notes.assume(
                    obj.id,
                    f"{node.id!r} is not staged, as in DP (only S3 nodes are): the script "
                    "defines its table itself.",
                )
                continue
            name = self.table_name(obj, variable)
            if (ddl := self.hive_table(obj, node, name)) is not None:
                tables.append(ddl)
                define += ["-d", f"{variable}={name}"]
        if tables:
            staging = ["hive", "-e", " ".join(tables)]
            steps.append(_step(f"{obj.name} (staged tables)", "command-runner.jar", staging))
        if uri is not None:
            args = ["hive-script", "--run-hive-script", "--args", "-f", uri.render(), *define]
        else:
            args = ["hive", *define, "-e", script.render()]  # type: ignore[union-attr]
        steps.append(_step(obj.name, "command-runner.jar", args))
        return self._emr(obj, steps)

    def _PigActivity(self, obj: PipelineObject) -> Chain:
        define, script, uri = self._script(obj, "script", "-p")
        loads: list[str] = []
        stores: list[str] = []
        for variable, node in self._staged(obj):
            make = self.pig_load if variable.startswith("input") else self.pig_store
            if (statement := make(node, variable)) is None:
                self.notes.assume(
                    obj.id, f"{node.id!r} is not staged, as in DP: the script reads it itself."
                )
                continue
            (loads if variable.startswith("input") else stores).append(statement)
            define += ["-p", f"{variable}={variable}"]
        if not loads and not stores:
            if uri is not None:
                args = ["pig-script", "--run-pig-script", "--args", "-f", uri.render(), *define]
            else:
                args = ["pig", *define, "-e", script.render()]  # type: ignore[union-attr]
            return self._emr(obj, [_step(obj.name, "command-runner.jar", args)])
        body = [uri.render() if uri else "", script.render() if script else ""]
        args = ["bash", "-c", _PIG_STAGED, "dp-pig", "\n".join(loads), *body, "\n".join(stores)]
        return self._emr(obj, [_step(obj.name, "command-runner.jar", [*args, *define])])

    def _staged(self, obj: PipelineObject) -> list[tuple[str, PipelineObject]]:
        """(``input1``..., node) for the data nodes DP stages (``stage`` defaults to true)."""
        if self.p.string(obj, "stage") == "false":
            return []
        return [
            (f"{role}{index}", node)
            for role in ("input", "output")
            for index, node in enumerate(self.p.refs(obj, role), 1)
        ]

    def _HiveCopyActivity(self, obj: PipelineObject) -> Chain:
        source, target = self.require_ref(obj, "input"), self.require_ref(obj, "output")
        names = self.table_name(obj, "input1"), self.table_name(obj, "output1")
        tables = [
            self.hive_table(obj, n, name, copy=True)
            for n, name in zip((source, target), names, strict=True)
        ]
        where = self.tr.field(obj, "filterSql")
        hql = f"INSERT OVERWRITE TABLE {names[1]} SELECT * FROM {names[0]}"
        if where is not None:
            hql += " WHERE " + where.render()
        if None in tables:
            placeholder = self.placeholder(obj, "HiveCopyActivity tables could not be defined")
            return Chain(placeholder, placeholder)
        hive = ["hive", "-e", " ".join([*tables, hql + ";"])]  # type: ignore[list-item]
        return self._emr(obj, [_step(obj.name, "command-runner.jar", hive)])

    # -- EMR ----------------------------------------------------------------------------
    def _emr_cluster(self, obj: PipelineObject) -> PipelineObject | None:
        target = self.p.ref(obj, "runsOn")
        return target if target is not None and self.p.type_of(target) == "EmrCluster" else None

    def _shell_step(self, obj: PipelineObject, name: str) -> dict[str, Any]:
        args = [t.render() for t in self.tr.fields(obj, "scriptArgument")]
        if (uri := self.tr.field(obj, "scriptUri")) is not None:
            return _script_step(name, uri.render(), args)
        command = self.require(obj, "command").render()
        return _step(name, "command-runner.jar", ["bash", "-c", command, "dp-shell", *args])

    def _bash_step(self, name: str, command: Template) -> dict[str, Any]:
        return _step(name, "command-runner.jar", ["bash", "-c", command.render()])

    def _script_configs(self, obj: PipelineObject, key: str) -> list[dict[str, Any]]:
        steps = []
        for config in self.p.refs(obj, key):
            uri = self.require(config, "scriptUri").render()
            args = [t.render() for t in self.tr.fields(config, "scriptArgument")]
            steps.append(_script_step(f"{obj.name} ({key})", uri, args))
        return steps

    def _emr(self, obj: PipelineObject, steps: list[dict[str, Any]]) -> Chain:
        """Add steps to the activity's cluster, then wait for the last one."""
        for step in steps[:-1]:
            step["ActionOnFailure"] = "CANCEL_AND_WAIT"  # a failed step cancels the rest
        cluster = self._emr_cluster(obj)
        if cluster is not None:
            create, _ = self.cluster(cluster)
            job_flow = "{{ ti.xcom_pull(task_ids=" + literal(create) + ") }}"
        else:
            self.extra_params["emr_job_flow_id"] = "id of the EMR cluster to run steps on"
            job_flow = "{{ params.emr_job_flow_id }}"
        region = self._region(cluster)
        add = self.add(obj.id, EMR_ADD_STEPS, obj, job_flow_id=job_flow, steps=steps, **region)
        if cluster is None:
            self.todo(
                add,
                "no EmrCluster in runsOn: the steps go to the cluster given in params.emr_job_flow_id.",
            )
        wait = self.add(
            f"{obj.id}__wait",
            EMR_STEP_SENSOR,
            obj,
            display=f"{obj.name} (wait)",
            job_flow_id=job_flow,
            step_id="{{ ti.xcom_pull(task_ids=" + literal(add) + ")[-1] }}",
            mode="reschedule",
            poke_interval=60,
            **region,
        )
        self.notes.assume(
            obj.id,
            "retries resubmit steps only when the add-steps task is cleared with its sensor.",
        )
        self.edge(add, wait)
        if cluster is not None:
            create, terminate = self.resources[cluster.id]
            self.resource_tasks[cluster.id] |= {add, wait}
            self.edge(create, add)
            self.edge(wait, terminate)
        return Chain(add, wait)

    def _region(self, cluster: PipelineObject | None) -> dict[str, str]:
        """Every EMR call for a cluster goes to the cluster's region, when it has one."""
        region = self.render(cluster, "region") if cluster is not None else None
        return {"region_name": region} if region else {}

    def cluster(self, obj: PipelineObject) -> tuple[str, str]:
        """Create and teardown-terminate tasks for an EmrCluster, once per DAG."""
        if obj.id in self.resources:
            return self.resources[obj.id]
        overrides = self.job_flow_overrides(obj)
        create = self.add(
            f"create_{obj.id}",
            EMR_CREATE,
            obj,
            display=f"{obj.name} (create)",
            job_flow_overrides=overrides,
            emr_conn_id=None,
            wait_for_completion=True,
            **self._region(obj),
        )
        terminate = self.add(
            f"terminate_{obj.id}",
            EMR_TERMINATE,
            obj,
            display=f"{obj.name} (terminate)",
            job_flow_id="{{ ti.xcom_pull(task_ids=" + literal(create) + ") }}",
            **self._region(obj),
        )
        self.tasks[terminate].teardown_of = create
        self.edge(create, terminate)
        if after := self.p.string(obj, "terminateAfter"):
            self.todo(
                create,
                f"terminateAfter {after!r} is not enforced; the teardown terminates the cluster when the steps end.",
            )
        self.resources[obj.id] = (create, terminate)
        self.resource_tasks[obj.id] = {create, terminate}
        return create, terminate

    def job_flow_overrides(self, obj: PipelineObject) -> dict[str, Any]:
        r = lambda key: self.render(obj, key)  # noqa: E731
        flow: dict[str, Any] = {"Name": obj.name}
        if label := r("releaseLabel"):
            flow["ReleaseLabel"] = label
        elif ami := r("amiVersion"):
            flow["AmiVersion"] = ami
        else:
            self.notes.todo(
                obj.id, "no releaseLabel or amiVersion: set ReleaseLabel in job_flow_overrides."
            )
        if apps := self.tr.fields(obj, "applications"):
            flow["Applications"] = [{"Name": a.render()} for a in apps]
        flow["ServiceRole"] = r("role") or "EMR_DefaultRole"
        flow["JobFlowRole"] = r("resourceRole") or "EMR_EC2_DefaultRole"
        if log := r("pipelineLogUri"):
            flow["LogUri"] = log
        groups = []
        for role, prefix in (("MASTER", "master"), ("CORE", "core"), ("TASK", "task")):
            instance_type = r(f"{prefix}InstanceType")
            count = r(f"{prefix}InstanceCount") if prefix != "master" else "1"
            if role == "MASTER" and instance_type is None:
                instance_type = "m5.xlarge"
                self.notes.assume(obj.id, "masterInstanceType is unset; m5.xlarge assumed.")
            if instance_type is None and count is None:
                continue
            group: dict[str, Any] = {
                "Name": role.title(),
                "InstanceRole": role,
                "InstanceType": instance_type or "m5.xlarge",
                "InstanceCount": int(count) if count and count.isdigit() else (count or 1),
                "Market": "ON_DEMAND",
            }
            if bid := r(f"{prefix}InstanceBidPrice"):
                group |= {"Market": "SPOT", "BidPrice": bid}
            groups.append(group)
        instances: dict[str, Any] = {"InstanceGroups": groups, "KeepJobFlowAliveWhenNoSteps": True}
        instances |= self.renamed(
            obj,
            {
                "keyPair": "Ec2KeyName",
                "subnetId": "Ec2SubnetId",
                "emrManagedMasterSecurityGroupId": "EmrManagedMasterSecurityGroup",
                "emrManagedSlaveSecurityGroupId": "EmrManagedSlaveSecurityGroup",
                "serviceAccessSecurityGroupId": "ServiceAccessSecurityGroup",
            },
        )
        instances |= self.renamed_lists(
            obj,
            {
                "additionalMasterSecurityGroupIds": "AdditionalMasterSecurityGroups",
                "additionalSlaveSecurityGroupIds": "AdditionalSlaveSecurityGroups",
            },
        )
        flow["Instances"] = instances
        actions = []
        for index, text in enumerate(self.p.strings(obj, "bootstrapAction"), 1):
            where = f"object {obj.id!r} field 'bootstrapAction'"
            parts = [
                self.tr.text(obj, p.strip(), where).render() for p in split_unescaped(text, where)
            ]
            actions.append(
                {
                    "Name": f"bootstrap {index}",
                    "ScriptBootstrapAction": {"Path": parts[0], "Args": parts[1:]},
                }
            )
        if actions:
            flow["BootstrapActions"] = actions
        configurations = [self.emr_configuration(c) for c in self.p.refs(obj, "configuration")]
        if scheduler := self.render(obj, "hadoopSchedulerType"):
            classes = {
                "PARALLEL_FAIR_SCHEDULING": "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fair.FairScheduler",
                "PARALLEL_CAPACITY_SCHEDULING": "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler",
            }
            if scheduler in classes:
                configurations.append(
                    {
                        "Classification": "yarn-site",
                        "Properties": {"yarn.resourcemanager.scheduler.class": classes[scheduler]},
                    }
                )
        if configurations:
            flow["Configurations"] = configurations
        flow["VisibleToAllUsers"] = True
        return flow

    def emr_configuration(self, obj: PipelineObject) -> dict[str, Any]:
        config: dict[str, Any] = {"Classification": self.require(obj, "classification").render()}
        properties = {}
        for prop in self.p.refs(obj, "property"):
            properties[self.require(prop, "key").render()] = self.require(prop, "value").render()
        config["Properties"] = properties
        if nested := self.p.refs(obj, "configuration"):
            config["Configurations"] = [self.emr_configuration(c) for c in nested]
        return config


def split_unescaped(text: str, where: str) -> list[str]:
    """Split DP ``"jar,arg1,arg2"`` on commas that are neither escaped nor inside ``#{}``."""
    parts, current, depth, index = [], [], 0, 0
    while index < len(text):
        ch = text[index]
        if ch == "\\" and text[index + 1 : index + 2] == ",":
            current.append(",")
            index += 2
            continue
        if text.startswith("#{", index):
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == "," and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        index += 1
    parts.append("".join(current))
    if not parts[0].strip():
        raise AirshiftError(f"{where}: {text!r} does not start with a jar.")
    return parts


def _step(name: str, jar: str, args: list[str]) -> dict[str, Any]:
    return {
        "Name": name,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": jar, "Args": args},
    }


def _script_step(name: str, uri: str, args: list[str]) -> dict[str, Any]:
    """A step that fetches a script from S3 and runs it with the given arguments."""
    fetch = 'dp_script="$(mktemp)" && aws s3 cp "$0" "$dp_script" && bash "$dp_script" "$@"'
    return _step(name, "command-runner.jar", ["bash", "-c", fetch, uri, *args])
