"""Airflow 1.10 style plugin: Flask blueprint, FAB view and an operator registered in the plugin."""

from flask import Blueprint
from flask_appbuilder import BaseView, expose

from airflow.models import BaseOperator
from airflow.plugins_manager import AirflowPlugin


class HelloOperator(BaseOperator):
    def execute(self, context):
        return "hello"


class HelloView(BaseView):
    default_view = "index"

    @expose("/")
    def index(self):
        return "hello"


bp = Blueprint("hello", __name__)


class LegacyPlugin(AirflowPlugin):
    name = "legacy_plugin"
    operators = [HelloOperator]
    flask_blueprints = [bp]
    appbuilder_views = [{"name": "Hello", "category": "Demo", "view": HelloView()}]
