"""The command line, end to end on files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from telemetra.apps.cli import main


def test_produce_to_file_with_labels_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    argv = ["produce", "--streams", "a,b", "--rate", "50", "--duration", "30", "--seed", "7",
            "--scenario", "hype@10+10x4", "--scenario", "raid@20/b", "--speed", "0",
            "--start", "2026-11-27T16:00:00Z", "--sink", f"file://{events}", "--labels", str(labels)]  # fmt: skip
    assert main(argv) == 0
    lines = events.read_bytes().splitlines()
    assert len(lines) > 2 * 50 * 30
    assert {orjson.loads(line)["stream_id"] for line in lines} == {"a", "b"}
    assert [orjson.loads(line)["scenario"] for line in labels.read_bytes().splitlines()] == [
        "hype",
        "hype",
        "raid",
    ]
    first = lines
    assert main(argv) == 0
    assert events.read_bytes().splitlines() == first  # deterministic for a seed and start

    assert main(["contract", "check", str(events)]) == 0
    with events.open("ab") as f:
        f.write(b'{"type": "chat"}\n')
    assert main(["contract", "check", str(events)]) == 1
    assert f"events.jsonl:{len(lines) + 1}: " in capsys.readouterr().out


def test_bad_flags_are_rejected_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, reason in [
        (["produce", "--streams", "Bad Name"], "stream ids must match"),
        (["produce", "--scenario", "boom@3"], "unknown kind"),
        (["produce", "--start", "2026-11-27T16:00:00"], "no UTC offset"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert reason in capsys.readouterr().err
