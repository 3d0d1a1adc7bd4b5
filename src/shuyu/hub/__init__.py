"""The operator's hub: users, the resource hall, authorisations, jobs (``docs/platform.md``).

Modules, lowest first: ``models`` (tables), ``store`` (database, migrations), ``security``
(passwords, tokens), ``service`` (what the hub does, without HTTP), ``api`` (the REST API).
"""
