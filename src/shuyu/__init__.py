"""Shuyu (数域): a trusted data space.

Layers, lowest first (a lower layer never imports a higher one; ``sql`` and ``mpc`` never
import each other; enforced by ``tests/test_layers.py``):

1. ``errors``, ``config`` — one error hierarchy, one settings object.
2. ``pki`` — the data space's CA and party identities.
3. ``mpc`` (secure computation engine), ``sql``, ``governance`` — siblings that never import
   each other; ``psi`` (joins) is built on ``mpc`` and may import it, never the reverse.
4. ``engine`` — where a plan meets MPC/PSI.
5. ``node``, ``hub`` — services.
6. ``web``, ``cli`` — edges.
"""

__version__ = "0.1.0"
