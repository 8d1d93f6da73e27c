"""`langnghe api --workers 2`: two API processes on one port, one dashboard session for both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import TenantKey
from tests.helpers import free_port, wait_until


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_api_processes_share_the_port_and_one_dashboard_session(
    database_url: str, tenant: TenantKey, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LANGNGHE_DATABASE_URL": database_url,
        "LANGNGHE_DATA_DIR": str(tmp_path),
        "LANGNGHE_LOG_LEVEL": "WARNING",
    }
    env.pop("LANGNGHE_DASHBOARD_SECRET", None)  # the command must make one for both
    process = subprocess.Popen(
        [sys.executable, "-m", "langnghe", "api", "--workers", "2", "--port", str(port)],
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), 90, "the API on its port")
        wait_until(lambda: len(_children(process.pid)) >= 2, 30, "two API processes")
        # No keep-alive: each request is a new connection, which either process may accept.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=url, timeout=30, limits=fresh) as http:
            page = http.get("/dashboard/login")
            token = page.cookies["lng_login_csrf"]
            login = http.post(
                "/dashboard/login",
                data={"csrf": token, "api_key": tenant.key, "next": "/dashboard/topics"},
                cookies={"lng_login_csrf": token},
                follow_redirects=False,
            )
            assert login.status_code == 303, login.text
            session = {k: v for k, v in login.cookies.items()}
            statuses = [
                http.get("/dashboard/inbox", cookies=session, follow_redirects=False).status_code
                for _ in range(40)
            ]
            assert statuses == [200] * 40  # a process with its own secret would send to login
            posted = http.post(
                "/v1/feedback",
                headers={"Authorization": f"Bearer {tenant.key}"},
                json={"items": [{"text": "Giao hàng chậm", "channel": "review"}]},
            )
            assert posted.status_code == 202
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
