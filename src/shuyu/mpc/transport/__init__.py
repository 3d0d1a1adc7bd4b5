"""Transports between the three parties: one interface, an in-process implementation for unit
tests, and mutually authenticated TLS for real runs (see ``docs/mpc.md``, "Wire format")."""

from shuyu.mpc.transport.base import Tag, Transport, TransportStats

__all__ = ["Tag", "Transport", "TransportStats"]
