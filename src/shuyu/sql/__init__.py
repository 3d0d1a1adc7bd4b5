"""Secure SQL planning: pure functions from SQL text and a catalogue to plans (plain data).

Stages (each its own module, named after its one public function): ``parse`` → ``bind``
(names, types, the logical plan of :mod:`shuyu.sql.plan`) → ``check_policy`` → ``assign_visibility``
(the physical plan) → ``explain``. This package never imports the MPC engine: a plan is data,
and :mod:`shuyu.engine` runs it.
"""
