"""airshift: move Apache Airflow deployments without losing anything.

The library API is ``airshift.api``; the ``airshift`` command (``airshift.cli``) is a thin
layer over it. Importing airshift changes nothing in the host process (see ``airshift.api``
for the process-wide settings the command makes and a library caller may want too).
"""

__version__ = "0.1.0"
