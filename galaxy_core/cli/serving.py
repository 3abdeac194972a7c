"""The serve command: the HTTP API on uvicorn."""
from __future__ import annotations

import os
from pathlib import Path

from galaxy_core.cli.common import ranged
from galaxy_core.errors import UserError


def cmd_serve(args) -> dict:
    import uvicorn

    from galaxy_core.service.app import ServiceSettings, create_app
    from galaxy_core.settings import checkpoints_root

    settings = ServiceSettings(checkpoints=str(Path(args.checkpoints or checkpoints_root()).resolve()), device=args.device,
                               max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, max_files=args.max_files,
                               cors_origins=args.cors_origins or "")
    if not Path(settings.checkpoints).is_dir():
        raise UserError(f"{args.checkpoints} is not a folder of checkpoints: give the folder that holds them (default checkpoints/).")
    if args.workers == 1:  # one process: build the app here, so a bad setting fails before the port opens
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    else:  # each worker process builds its own app (and loads its own models) from these settings
        os.environ.update(settings.to_env())
        uvicorn.run("galaxy_core.service.app:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level="warning")
    return {"served": f"http://{args.host}:{args.port}", "stopped": True}



def add_commands(commands) -> None:
    from galaxy_core.settings import DEVICES

    srv = commands.add_parser("serve", help="the HTTP API (FastAPI + uvicorn): /predict, /predict1, /predict2, /predict/sky, /models, /health, /docs")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    srv.add_argument("--port", type=ranged(int, 1, 65535), default=8000)
    srv.add_argument("--checkpoints", help="the folder of checkpoints to serve (default: checkpoints/)")
    srv.add_argument("--workers", type=ranged(int, 1, 64), default=1, help="processes, each with its own copy of the models")
    srv.add_argument("--device", default="auto", choices=DEVICES)
    srv.add_argument("--max-batch", type=ranged(int, 1, 1024), default=16, help="images per forward pass (default 16)")
    srv.add_argument("--max-wait-ms", type=ranged(float, 0.0, 1000.0), default=5.0, help="how long a batch waits for more requests (default 5)")
    srv.add_argument("--max-queue", type=ranged(int, 1, 100_000), default=256, help="images waiting before 503 (default 256)")
    srv.add_argument("--max-files", type=ranged(int, 1, 256), default=16, help="files per request (default 16)")
    srv.add_argument("--cors-origins", help="comma-separated origins allowed to call from a browser (default: none)")
    srv.set_defaults(run=cmd_serve)
