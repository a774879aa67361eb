"""OpenFinOps' Superset deployment: bundle validation and packaging (bundle), the REST client (client), the
read-only warehouse connection (database), roles/permissions/RLS (access) and users (users).

Named ``openfinops_superset`` so it never shadows the installed ``superset`` package; ``superset/deploy.py`` puts
this folder's parent on ``sys.path``.
"""
