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


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--channel", "no spaces"], "channel 'no spaces' is not a valid stream id"),
        (["--url", "https://irc-ws.chat.twitch.tv"], "is not ws://HOST[:PORT] or wss://HOST[:PORT]"),
        (["--url", "wss://irc-ws.chat.twitch.tv:99999"], "chat URL"),
        (["--sink", "ftp://example"], "unsupported sink"),
        (["--sink", "file://{tmp}"], "is a directory"),
        (["--sink", "kafka://"], "not a Kafka URL"),
        (["--client-id", "abc123"], "needs env TWITCH_CLIENT_SECRET"),
        (["--channel", "a,b,a"], "channel 'a' is named twice"),
        (["--channel", "a=x,b=x"], "stream id 'x' is named twice"),
        (["--channels-file", "{tmp}/missing.txt"], "--channels-file {tmp}/missing.txt: No such file"),
        (["--channel", ",", "--channels-file", "{tmp}/empty.txt"], "no channel given"),
    ],
)
def test_ingest_twitch_checks_every_argument_before_opening_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    reason: str,
) -> None:
    """One line on stderr, exit 2, and the events file untouched (even with --overwrite)."""
    monkeypatch.delenv("TWITCH_CLIENT_ID", raising=False)
    monkeypatch.delenv("TWITCH_CLIENT_SECRET", raising=False)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"event_id": "keep me"}\n')
    (tmp_path / "empty.txt").write_text("# nothing yet\n\n")
    argv = {"--channel": "ninjabear", "--url": "ws://127.0.0.1:9", "--sink": f"file://{events}"}
    argv.update(zip(flags[::2], [flag.format(tmp=tmp_path) for flag in flags[1::2]], strict=True))
    assert main(["ingest", "twitch", *[part for pair in argv.items() for part in pair], "--overwrite"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("telemetra ingest twitch: error: ")
    assert reason.format(tmp=tmp_path) in line
    assert events.read_bytes() == b'{"event_id": "keep me"}\n'


def test_ingest_twitch_reports_a_sink_that_cannot_open_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sink that looks right but fails to open (here: a directory nobody can create) ends the command
    before it connects to Twitch."""
    argv = ["ingest", "twitch", "--channel", "ninjabear", "--url", "ws://127.0.0.1:9",
            "--sink", "file:///proc/telemetra-nowhere/events.jsonl"]  # fmt: skip
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "telemetra ingest twitch: error: sink file:///proc/telemetra-nowhere/events.jsonl: "
    )


def test_bad_twitch_flags_of_ingest_and_demo_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, reason in [
        (["ingest", "twitch", "--channel", "a", "--sink", "memory://", "--join-limit", "fast"], "JOIN limit"),
        (
            ["ingest", "pool", "--pool", "p", "--kafka-bootstrap", "k:9", "--twitch-join-limit", "0/10"],
            "JOIN limit",
        ),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert reason in capsys.readouterr().err
    for argv, reason in [
        (["demo", "--no-mock"], "--no-mock leaves nothing to show"),
        (["demo", "--twitch", "not a channel"], "not a valid stream id"),
        (["demo", "--twitch", "x", "--twitch-url", "http://localhost"], "is not ws://HOST[:PORT]"),
    ]:
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("telemetra demo: error: ") and reason in line


def test_bad_alert_files_of_demo_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = tmp_path / "inline.json"
    inline.write_text(
        '{"nebula": {"destinations": [{"name": "d", "type": "discord", '
        '"url": "https://discord.com/api/webhooks/1/SECRET-TOKEN"}]}}'
    )
    for path, reason in [
        (tmp_path / "missing.json", "No such file"),
        (
            inline,
            "nebula.destinations.0: Value error, destination 'd': a discord webhook URL carries its token",
        ),
    ]:
        assert main(["demo", "--alerts", str(path)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("telemetra demo: error: ") and reason in line
        assert "SECRET-TOKEN" not in line
