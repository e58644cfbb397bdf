"""Test tools shipped with the service: a fault-injecting serial proxy."""
