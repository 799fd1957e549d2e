"""From an environment URL and credentials to an authenticated ``Environment``.

Two kinds of URL are accepted wherever the CLI takes an environment:

* ``http(s)://HOST[:PORT][/PATH]``: an Airflow web server (2.x) or API server (3.x). With
  a token, it is sent as ``Authorization: Bearer``. With a user and password, Airflow 3
  exchanges them for a token at ``/auth/token`` (simple and FAB auth managers alike);
  Airflow 2 (no such endpoint) takes them as basic auth, which its ``[api]
  auth_backends`` must allow.
* ``mwaa://NAME[?region=R]``: an Amazon MWAA environment. GetEnvironment gives its version,
  CreateWebLoginToken a one-minute web token, which MWAA's own login endpoint exchanges
  for a session: on 2.x ``POST /aws_mwaa/login`` sets the Flask ``session`` cookie, on 3.x
  ``POST /pluginsv2/aws_mwaa/login`` sets ``_token``, a JWT sent as a bearer token. The
  caller needs ``airflow:CreateWebLoginToken`` on the environment and network reach to its
  web server (public access, or a machine inside its VPC).
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from packaging.version import Version

from airshift.agent.client import Environment
from airshift.errors import AirshiftError

# The oldest MWAA release the agent installs into and is tested in (tests/agent/test_install.py);
# older ones (2.6.3 and before) predate Airflow 2.7, where Airflow 3's migrations begin.
MWAA_OLDEST_AGENT = Version("2.7.2")


def is_environment_url(location: str) -> bool:
    """Does ``location`` name an Airflow environment (rather than a database or archive)?"""
    return location.startswith(("http://", "https://", "mwaa://"))


def connect(
    url: str, token: str | None = None, user: str | None = None, password: str | None = None
) -> Environment:
    if url.startswith("mwaa://"):
        parsed = urllib.parse.urlsplit(url)
        region = urllib.parse.parse_qs(parsed.query).get("region", [None])[0]
        return mwaa_environment(parsed.netloc, region)
    if not url.startswith(("http://", "https://")):
        raise AirshiftError(f"{url!r} is not an environment URL (http://, https:// or mwaa://).")
    base = url.rstrip("/")
    if token:
        return Environment(base, base, {"Authorization": f"Bearer {token}"})
    if user and password:
        return Environment(base, base, {"Authorization": _password_auth(base, user, password)})
    return Environment(base, base)


def _password_auth(base: str, user: str, password: str) -> str:
    """Airflow 3: a JWT from /auth/token; Airflow 2 (no such endpoint): basic auth."""
    body = json.dumps({"username": user, "password": password}).encode()
    req = urllib.request.Request(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return f"Bearer {json.loads(resp.read())['access_token']}"
    except (ValueError, KeyError, TypeError):
        pass  # an answer that is not a token (an Airflow 2 login page): basic auth below
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AirshiftError(f"{base} refused the user {user!r} and password.") from None
        if exc.code not in (404, 405):
            raise AirshiftError(f"{base}/auth/token answered {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AirshiftError(
            f"Cannot reach the Airflow environment {base}: {getattr(exc, 'reason', exc)}."
        ) from None
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def mwaa_environment(name: str, region: str | None, client: Any = None) -> Environment:
    """An MWAA environment, logged in with a web login token (see the module docstring)."""
    if client is None:
        try:
            import boto3
        except ImportError:
            raise AirshiftError(
                "mwaa:// environments need boto3: pip install 'airshift[aws]'."
            ) from None
        client = boto3.client("mwaa", region_name=region)
    env = _aws(lambda: client.get_environment(Name=name), name, "airflow:GetEnvironment")[
        "Environment"
    ]
    if env.get("Status") not in (None, "AVAILABLE"):
        raise AirshiftError(
            f"The MWAA environment {name} is {env['Status']}, not AVAILABLE: wait for it, then run again."
        )
    if Version(str(env["AirflowVersion"])) < MWAA_OLDEST_AGENT:
        raise AirshiftError(
            f"The MWAA environment {name} runs Airflow {env['AirflowVersion']}, which the airshift "
            f"agent does not run in (it needs MWAA {MWAA_OLDEST_AGENT} or newer): upgrade "
            f"it in place first (aws mwaa update-environment --name {name} --airflow-version "
            "2.10.3), then add airshift[agent] to its requirements."
        )
    login = _aws(
        lambda: client.create_web_login_token(Name=name), name, "airflow:CreateWebLoginToken"
    )
    major = int(str(env["AirflowVersion"]).split(".")[0])
    return login_exchange(
        login["WebServerHostname"], login["WebToken"], major, label=f"mwaa://{name}"
    )


def _aws(call: Any, name: str, permission: str) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise AirshiftError(
                f"There is no MWAA environment named {name!r} in this region."
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise AirshiftError(
                f"AWS refused {permission} on the MWAA environment {name}: the caller needs that "
                "permission on the environment."
            ) from None
        raise AirshiftError(
            f"AWS refused a call about the MWAA environment {name}: {exc}"
        ) from None
    except BotoCoreError as exc:
        raise AirshiftError(f"Cannot call the MWAA API: {exc}") from None


def login_exchange(
    host: str, web_token: str, major: int, label: str, scheme: str = "https"
) -> Environment:
    """Trade an MWAA web login token for the session MWAA's login endpoint sets."""
    base = f"{scheme}://{host}"
    path, cookie = (
        ("/pluginsv2/aws_mwaa/login", "_token") if major >= 3 else ("/aws_mwaa/login", "session")
    )
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"token": web_token}).encode()
    try:
        opener.open(
            urllib.request.Request(base + path, data=data, method="POST"), timeout=30
        ).close()
    except urllib.error.HTTPError as exc:
        raise AirshiftError(
            f"{label}: the MWAA login at {base}{path} answered {exc.code}."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise AirshiftError(
            f"Cannot reach {label}'s web server {host}: {getattr(exc, 'reason', exc)}. A private "
            "MWAA web server is reachable only from inside its VPC."
        ) from None
    value = next((c.value for c in jar if c.name == cookie), None)
    if not value:
        raise AirshiftError(f"{label}: the MWAA login at {base}{path} set no {cookie!r} cookie.")
    headers = {"Authorization": f"Bearer {value}"} if major >= 3 else {"Cookie": f"session={value}"}
    return Environment(base, label, headers)
