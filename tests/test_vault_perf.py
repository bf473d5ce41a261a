"""Vault speed, against the issue's targets. Times are CPU seconds (``time.process_time``) so that a
busy test machine does not make them flaky; wall times are printed beside them (``pytest -s``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.vault import KdfParams, Vault

pytestmark = pytest.mark.slow

PASS = "correct horse battery staple"


def _record(i: int) -> dict[str, object]:
    return {
        "kind": "lab_result",
        "name": "Hemoglobin",
        "value": 13.7 + i % 10,
        "unit": "g/dL",
        "reference_range": "12.0-16.0",
        "date": f"2026-01-{i % 28 + 1:02d}",
        "provider": "Dr. Example",
        "flag": None,
        "capture_ref": i,
    }


@pytest.fixture(scope="module")
def big_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("big") / "vault"
    v = Vault.create(path, PASS, KdfParams.fast())
    with v.transaction():
        for c in range(1000):
            cid, _ = v.put_capture(
                {"url": f"https://portal.example.org/r/{c}", "frames": [{"url": "", "html": f"<p>{c}</p>"}]}
            )
            v.replace_records(cid, [_record(c * 100 + k) for k in range(100)])
    v.close()
    yield path


def test_iterating_100k_records_after_unlock_is_under_a_second(big_vault: Path) -> None:
    v = Vault.open(big_vault)
    v.unlock(PASS)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = list(v.iter_records())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"\niter_records over {len(rows)} records: {cpu:.3f} s CPU, {wall:.3f} s wall")
    assert len(rows) == 100_000 and rows[-1].data["capture_ref"] == 99_999
    assert [r.id for r in rows[:3]] == [1, 2, 3]
    assert cpu < 1.0
    v.close()


def test_open_and_unlock_do_not_depend_on_vault_size(big_vault: Path) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    v = Vault.open(big_vault)
    v.unlock(PASS)
    n = len(v.list_captures())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"\nopen + unlock (fast KDF) + list_captures ({n}): {cpu:.3f} s CPU, {wall:.3f} s wall")
    assert cpu < 0.5
    v.close()


def test_put_capture_of_a_200_kb_page(tmp_path: Path) -> None:
    v = Vault.create(tmp_path / "v", PASS, KdfParams.fast())
    rows = "".join(
        f"<tr><td class='c'>Component {i}</td><td>{i * 7 % 300}</td><td>mg/dL</td></tr>" for i in range(4000)
    )
    html = f"<html><body><table>{rows}</table></body></html>"[:200_000]
    cpu_times = []
    for n in range(5):
        cpu = time.process_time()
        v.put_capture({"url": f"https://portal.example.org/big/{n}", "frames": [{"url": "", "html": html}]})
        cpu_times.append(time.process_time() - cpu)
    print(f"\nput_capture 200 KB: best {min(cpu_times) * 1000:.1f} ms CPU")
    assert min(cpu_times) < 0.25
    v.close()
