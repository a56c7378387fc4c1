"""Command lines, the top layer: ``python -m helpers <command>`` (see ``helpers/__main__.py``) or
``python -m helpers.cli.<command>``.
"""
