"""Four small demo APIs served by Tollgate itself, so a fresh install has real upstreams to
call through the gateway. They keep no state and touch no database."""
