"""``airshift env``: the new Amazon MWAA environment, made from the old one.

Why a package of its own: steps one and two of an MWAA migration happen in the AWS
account, not in a metadata database: a CreateEnvironment request planned from the old
environment, and the environment's files moved through ``airshift.code``'s upgrade. The
library API, which ``airshift.env.cli`` only parses for and prints:

- ``source.read_environment(location) -> Environment`` (``mwaa://NAME`` or a saved file)
- ``plan.make_plan(environment, PlanOptions(...)) -> Plan``; ``formats.render(plan, Format)``
- ``create.create_environment(request, wait=...) -> CreateResult``
- ``resources.move_resources(source, target, write=..., wait=create.Waiting(...))``
- ``secretsmanager.write_secrets(connections, variables, target) -> SecretsReport``
  (``secretsmanager.archived_values(reader, key)``: an archive's, opened in memory)
- ``policy.needs(...)``, ``policy.check_role(role_arn, needs) -> RoleCheck``
"""
