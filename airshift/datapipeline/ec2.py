"""Ec2Resource as a real instance (the opt-in ``ssm`` strategy): create, run, terminate.

Why opt-in: on MWAA the natural home of a shell command is the Airflow worker (the default
``local`` strategy). When the command needs the instance DP used to launch (its network,
its instance profile), the ``ssm`` strategy launches it with ``EC2CreateInstanceOperator``,
runs each ShellCommandActivity through SSM ``AWS-RunShellScript``, and terminates the
instance as a teardown. The AMI needs the SSM agent and the AWS CLI.
"""

from __future__ import annotations

from typing import Any

from airshift.datapipeline.builder import BuilderCore, Chain, version_key
from airshift.datapipeline.model import PipelineObject
from airshift.datapipeline.operators import EC2_CREATE, EC2_TERMINATE, SSM_RUN_COMMAND
from airshift.datapipeline.pycode import Output
from airshift.datapipeline.schedule import period_delta

_HEREDOC_END = "AIRSHIFT_DP_SCRIPT_END"


class Ec2Tasks(BuilderCore):
    """ShellCommandActivities on an Ec2Resource, run through SSM on a launched instance."""

    def ssm_shell(self, obj: PipelineObject, resource: PipelineObject) -> Chain:
        create, _ = self.ec2_instance(resource)
        bash, env = self.shell_parts(obj, obj, stage=True)
        self.helpers.add("shell_quote")
        exports = [f"export {k}={{{{ shell_quote({v.as_expr()}) }}}}" for k, v in env.items()]
        end = _HEREDOC_END
        while end in bash:
            end += "_"
        script = "\n".join(
            [
                *exports,
                'dp_run="$(mktemp)"',
                f"cat > \"$dp_run\" <<'{end}'",
                bash,
                end,
                'bash "$dp_run"',
            ]
        )
        parameters: dict[str, Any] = {"commands": [script]}
        if timeout := self.p.string(obj, "attemptTimeout"):
            where = f"object {obj.id!r} field 'attemptTimeout'"
            seconds = int(period_delta(timeout, where, self.notes, obj.id).total_seconds())
            parameters["executionTimeout"] = [str(seconds)]
        else:
            self.notes.assume(obj.id, "no attemptTimeout: SSM's default 1-hour limit applies.")
        task_id = self.add(
            obj.id,
            SSM_RUN_COMMAND,
            obj,
            document_name="AWS-RunShellScript",
            run_command_kwargs={"InstanceIds": Output(create), "Parameters": parameters},
            **self._ec2_region(resource),
        )
        self.resource_tasks[resource.id].add(task_id)
        create, terminate = self.resources[resource.id]
        self.edge(create, task_id)
        self.edge(task_id, terminate)
        return Chain(task_id, task_id)

    def _ec2_region(self, resource: PipelineObject) -> dict[str, str]:
        region = self.render(resource, "region")
        return {"region_name": region} if region else {}

    def ec2_instance(self, obj: PipelineObject) -> tuple[str, str]:
        """Create and teardown-terminate tasks for an Ec2Resource, once per DAG."""
        if obj.id in self.resources:
            return self.resources[obj.id]
        self.min_amazon = max(self.min_amazon, "9.11.0", key=version_key)  # SSM run command
        image = self.render(obj, "imageId")
        if image is None:
            self.extra_params["ec2_image_id"] = "AMI with the SSM agent and the AWS CLI"
            image = "{{ params.ec2_image_id }}"
        config: dict[str, Any] = {"InstanceType": self.render(obj, "instanceType") or "m1.small"}
        config |= self.renamed(obj, {"subnetId": "SubnetId", "keyPair": "KeyName"})
        config |= self.renamed_lists(
            obj, {"securityGroupIds": "SecurityGroupIds", "securityGroups": "SecurityGroups"}
        )
        if zone := self.render(obj, "availabilityZone"):
            config["Placement"] = {"AvailabilityZone": zone}
        if profile := self.render(obj, "resourceRole"):
            config["IamInstanceProfile"] = {"Name": profile}
        create = self.add(
            f"create_{obj.id}",
            EC2_CREATE,
            obj,
            display=f"{obj.name} (create)",
            image_id=image,
            min_count=1,
            max_count=1,
            config=config,
            wait_for_completion=True,
            **self._ec2_region(obj),
        )
        terminate = self.add(
            f"terminate_{obj.id}",
            EC2_TERMINATE,
            obj,
            display=f"{obj.name} (terminate)",
            instance_ids=Output(create),
            **self._ec2_region(obj),
        )
        self.tasks[terminate].teardown_of = create
        self.edge(create, terminate)
        self.notes.assume(
            obj.id,
            "the instance profile needs SSM permissions (AmazonSSMManagedInstanceCore) and "
            "the AMI the SSM agent and the AWS CLI.",
        )
        if after := self.p.string(obj, "terminateAfter"):
            self.todo(
                create,
                f"terminateAfter {after!r} is not enforced; the teardown terminates the "
                "instance when its activities end.",
            )
        self.resources[obj.id] = (create, terminate)
        self.resource_tasks[obj.id] = {create, terminate}
        return create, terminate
