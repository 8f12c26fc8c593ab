"""Starts the gateway exactly as `uvicorn config.asgi:application <arguments>` would — it
calls uvicorn's own command line in this process — but under this script's name, so a
broad `pkill -f uvicorn` elsewhere on a shared machine (a dev stack being restarted) does
not take the benchmark's gateway down in the middle of a run.

    python bench/serve_gateway.py --workers 2 --loop uvloop --http httptools --no-access-log
"""

import sys

if __name__ == "__main__":  # uvicorn's worker processes re-import this file: do nothing then
    from uvicorn.main import main

    sys.argv = ["uvicorn", "config.asgi:application", *sys.argv[1:]]
    sys.exit(main())
