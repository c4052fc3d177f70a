"""Run the web server and the django-q2 workers (main queue and rating's) together in the foreground; Ctrl-C stops both."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server and the task worker together (development and demos)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")

    def handle(self, *args, addr: str, **options):
        manage = [sys.executable, "manage.py"]
        processes = {
            "web": subprocess.Popen([*manage, "runserver", addr, "--noreload"]),
            "worker": subprocess.Popen([*manage, "qcluster"]),
        }
        if settings.RATING_CLUSTER:  # rating's own queue (config/settings.py)
            rating_env = {**os.environ, "Q_CLUSTER_NAME": settings.RATING_CLUSTER}
            processes["rating"] = subprocess.Popen([*manage, "qcluster"], env=rating_env)
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in processes.values()):
                time.sleep(0.3)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        exited = [name for name, p in processes.items() if p.returncode not in (0, -signal.SIGINT, None)]
        if exited and not stopping:
            raise SystemExit(f"{', '.join(exited)} stopped unexpectedly")
