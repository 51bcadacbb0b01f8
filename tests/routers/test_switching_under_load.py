"""Users see no error while a rollout moves traffic through rollsafe's nginx.

End to end: uvicorn instances run by the process target, rollsafe's nginx in
front, the controller's Traffic following every change, and users sending GET,
POST and slow-bodied POST requests through nginx meanwhile (bench/nginx_switching).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.nginx_switching.rig import rig, switch_cycle, users

pytestmark = pytest.mark.slow


def test_no_request_fails_across_canary_weight_deploy_promote_and_rollback_switches(
    tmp_path: Path,
) -> None:
    # One instance per slot: a request nginx's old worker still holds has no other
    # server of its split to go to once the replaced instance stops.
    with rig(tmp_path, instances=1) as moving, users(moving.url, 3, slow=3) as finish:
        done = [
            *switch_cycle(moving, "1.1.0", "1.0.0"),
            *switch_cycle(moving, "1.0.0", "1.1.0"),
            *switch_cycle(moving, "1.1.0", "1.0.0"),
        ]
        summary = finish()
        assert {i.release for i in moving.target.instances()} == {"1.1.0"}
    assert len(done) == 18
    assert summary["bad"] == []  # no 502, 503, 504, reset or refused connection
    sent = summary["sent"]
    assert sent["GET"] > 100, sent
    assert sent["POST"] > 100, sent
    assert sent["slow POST"] > 3 * 18 / 2, sent  # bodies arriving across most switches
