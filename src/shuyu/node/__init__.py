"""A domain's node (``shuyu node``): enrolment, its copy of its grants, and the MPC worker.

``config`` (the node's home directory and ``node.yaml``), ``enroll`` (``shuyu node join``: a key
made here, a certificate from the hub's CA for it), ``grants`` (the node's own copy of the
grants on its data, where a revocation is final), ``worker`` (pulls jobs, plans and checks them
itself, runs them with its peers over TLS, reports). ``docs/platform.md`` describes the whole.
"""
