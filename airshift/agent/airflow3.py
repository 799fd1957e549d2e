"""The agent on Airflow 3's API server: a FastAPI app behind the auth manager.

Why this way: Airflow 3 forbids database access from task code; the API server still
has it and mounts the ``fastapi_apps`` of plugins. Callers authenticate exactly as for
Airflow's REST API (``get_user``: a JWT as ``Authorization: Bearer``, or the UI's
``_token`` cookie, which MWAA's ``/pluginsv2/aws_mwaa/login`` sets).

Who may use it: the auth manager must authorize the caller for everything the agent
reads and writes (connections, variables and pools with every method, all DAGs, the
configuration), and, where the auth manager has roles (FAB: ``AUTH_ROLE_ADMIN``;
the simple auth manager: ``ADMIN``), the caller must be an administrator. An auth
manager without roles decides through the authorizations alone.
"""

from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from airshift.agent import service
from airshift.agent.protocol import API, HEADER

# No ``from __future__ import annotations`` here: FastAPI reads these annotations at run
# time to find its dependencies.
User = Annotated[Any, Depends(get_user)]

_METHODS = ("GET", "POST", "PUT", "DELETE")


def _missing_access(user: Any) -> list[str]:
    """What the caller may not do of what the agent does (empty: may do it all)."""
    am = get_auth_manager()
    checks = {f"configuration {m}": (am.is_authorized_configuration, m) for m in ("GET",)}
    for name in ("connection", "variable", "pool"):
        checks |= {f"{name} {m}": (getattr(am, f"is_authorized_{name}"), m) for m in _METHODS}
    checks |= {f"dag {m}": (am.is_authorized_dag, m) for m in ("GET", "PUT", "DELETE")}
    return [
        what
        for what, (is_authorized, m) in checks.items()
        if not is_authorized(method=m, user=user)
    ]


def _is_admin(user: Any) -> bool | None:
    """Whether the user holds the auth manager's admin role; None when it has no roles."""
    role = getattr(user, "role", None)
    if isinstance(role, str):  # the simple auth manager
        return role.upper() == "ADMIN"
    roles = getattr(user, "roles", None)
    if roles is not None:  # FAB
        sm = getattr(get_auth_manager(), "security_manager", None)
        admin = getattr(sm, "auth_role_admin", None) or "Admin"
        return admin in {getattr(r, "name", r) for r in roles}
    return None


def _caller(user: Any) -> service.Caller:
    name = user.get_name()
    if _is_admin(user) is False:
        return service.Caller(
            name, False, f"Only administrators can use the airshift agent; {name!r} is not one."
        )
    missing = _missing_access(user)
    if missing:
        return service.Caller(
            name, False, f"{name!r} may not do all the agent does (missing: {', '.join(missing)})."
        )
    return service.Caller(name, True)


def create_app() -> FastAPI:
    app = FastAPI(title="airshift agent", openapi_url=None, docs_url=None, redoc_url=None)

    def respond(answer: service.Answer) -> JSONResponse:
        return JSONResponse(answer.body, status_code=answer.status)

    @app.get(f"{API}/check")
    def check(user: User) -> JSONResponse:
        return respond(service.check(_caller(user)))

    @app.post(f"{API}/jobs")
    async def start(request: Request, user: User) -> JSONResponse:
        caller = await run_in_threadpool(_caller, user)
        if not caller.allowed:
            return respond(service.start(caller, None))
        if request.headers.get(HEADER) != "1":
            return JSONResponse({"error": f"A job request carries the {HEADER}: 1 header."}, 400)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "A job request is a JSON object."}, 400)
        return respond(await run_in_threadpool(service.start, caller, body))

    @app.get(f"{API}/jobs")
    def recent(user: User) -> JSONResponse:
        return respond(service.recent(_caller(user)))

    @app.get(f"{API}/jobs/{{job_id}}")
    def status(job_id: str, user: User) -> JSONResponse:
        return respond(service.status(_caller(user), job_id))

    return app
