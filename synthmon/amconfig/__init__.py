"""The user's alertmanager.yml as data: redirected to local sinks, routed, checked against a policy."""
