"""The user's alertmanager.yml as data: redirected to sinks, routed, held to a policy."""
