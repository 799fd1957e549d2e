"""The agent on Airflow 2's web server: a Flask blueprint behind FAB's authentication.

Why this way: Airflow 2 (and MWAA since 2.2.2) loads ``flask_blueprints`` from plugins
into the web server, which reaches the metadata database. Callers authenticate the way
Airflow's own REST API accepts (its ``[api] auth_backends``: the session cookie of a
browser or of MWAA's ``/aws_mwaa/login``, basic auth when enabled), through
``check_authentication``; only members of FAB's admin role (``AUTH_ROLE_ADMIN``,
``Admin`` by default) may start or read jobs.

The blueprint is exempt from Flask-WTF's CSRF check (an API has no form token), so a
POST must carry the ``X-Airshift-Agent`` header and a JSON body: a cross-site form can
send neither, which is what the CSRF token would have prevented.
"""

from __future__ import annotations

from typing import Any

from airshift.agent import service
from airshift.agent.protocol import API, HEADER, PREFIX


def _caller() -> service.Caller | None:
    """The authenticated caller, or None when the request carries no valid credentials."""
    from airflow.api_connexion.exceptions import Unauthenticated
    from airflow.api_connexion.security import check_authentication
    from airflow.utils.airflow_flask_app import get_airflow_app
    from flask_login import current_user

    try:
        check_authentication()
    except Unauthenticated:
        return None
    if not getattr(current_user, "is_authenticated", False):
        return service.Caller(None, False, "Anonymous callers cannot use the airshift agent.")
    admin = get_airflow_app().appbuilder.sm.auth_role_admin
    name = getattr(current_user, "username", None)
    if admin in {role.name for role in getattr(current_user, "roles", [])}:
        return service.Caller(name, True)
    return service.Caller(
        name,
        False,
        f"Only members of the {admin!r} role can use the airshift agent; {name!r} is not.",
    )


def _exempt_from_csrf(app: Any, bp: Any) -> None:
    """The web server's app has Flask-WTF's CSRF check; apps the CLI builds (``airflow
    users create``, ...) do not, and must load the plugin all the same."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def blueprint() -> Any:
    from flask import Blueprint, jsonify, request

    bp = Blueprint("airshift_agent", __name__, url_prefix=PREFIX)
    bp.record_once(lambda state: _exempt_from_csrf(state.app, bp))

    def respond(answer: service.Answer) -> Any:
        return jsonify(answer.body), answer.status

    def unauthenticated() -> Any:
        return jsonify(
            {"error": "Not authenticated: log in, or pass a token or user/password."}
        ), 401

    @bp.route(f"{API}/check", methods=["GET"])
    def check() -> Any:
        caller = _caller()
        return unauthenticated() if caller is None else respond(service.check(caller))

    @bp.route(f"{API}/jobs", methods=["POST"])
    def start() -> Any:
        caller = _caller()
        if caller is None:
            return unauthenticated()
        if not caller.allowed:
            return respond(service.start(caller, None))
        if request.headers.get(HEADER) != "1" or not request.is_json:
            return jsonify({"error": f"A job request is JSON with the {HEADER}: 1 header."}), 400
        return respond(service.start(caller, request.get_json(silent=True)))

    @bp.route(f"{API}/jobs", methods=["GET"])
    def recent() -> Any:
        caller = _caller()
        return unauthenticated() if caller is None else respond(service.recent(caller))

    @bp.route(f"{API}/jobs/<job_id>", methods=["GET"])
    def status(job_id: str) -> Any:
        caller = _caller()
        return unauthenticated() if caller is None else respond(service.status(caller, job_id))

    return bp
