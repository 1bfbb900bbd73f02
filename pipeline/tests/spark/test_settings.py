"""The job's command line (the operator and the local stack launch exactly this) and the analytics config
as JSON."""

from __future__ import annotations

import pytest

from telemetra.analytics.config import (
    AnalyticsConfig,
    ChatSpike,
    MomentThresholds,
    ViewerChange,
    analytics_config_from_json,
    analytics_config_to_json,
)
from telemetra.spark import parse_args
from telemetra.spark.session import ROCKSDB, spark_conf
from telemetra.spark.settings import parse_duration_ms

REQUIRED = ["--stream-id", "alpha", "--kafka-bootstrap", "127.0.0.1:9092", "--checkpoint-dir", "/tmp/ck"]


def test_a_partial_config_keeps_the_defaults_of_what_it_leaves_out() -> None:
    config = analytics_config_from_json(
        '{"window": 120, "slide": 20, "thresholds": {"chat_spike": {"ratio": 3}, "viewer_surge": {"z": 6}}}'
    )
    assert config == AnalyticsConfig(
        window=120,
        slide=20,
        thresholds=MomentThresholds(
            chat_spike=ChatSpike(ratio=3.0), viewer_surge=ViewerChange(ratio=1.3, z=6.0)
        ),
    )
    assert isinstance(config.window, int) and isinstance(config.thresholds.chat_spike.ratio, float)
    assert analytics_config_from_json(None) == analytics_config_from_json("") == AnalyticsConfig()
    high = analytics_config_from_json('{"thresholds": {"sensitivity": "high"}}')
    assert high == AnalyticsConfig(thresholds=MomentThresholds(sensitivity="high"))


def test_the_json_form_round_trips_every_field() -> None:
    config = AnalyticsConfig(window=30, slide=15, lateness=5.0, top_emotes=3)
    assert analytics_config_from_json(analytics_config_to_json(config)) == config
    assert '"revenue_spike":{"gift_bomb":20' in analytics_config_to_json(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"windw": 60}', "unknown field(s) windw"),
        ('{"thresholds": {"chat_spike": {"rate": 2}}}', "unknown field(s) thresholds.chat_spike.rate"),
        ('{"window": "60"}', "field window: expected a number"),
        ('{"window": 60.5}', "expected a whole number"),
        ('{"thresholds": {"raid_shadow": true}}', "field thresholds.raid_shadow: expected a number"),
        ('{"thresholds": 3}', "field thresholds: expected an object"),
        ('{"thresholds": {"sensitivity": "extreme"}}', "sensitivity must be one of low, normal, high"),
        ('{"thresholds": {"sensitivity": 2}}', "field thresholds.sensitivity: expected a string"),
        ('{"window": 60, "slide": 7}', "must be positive and divide the window"),
        ("[1]", "expected an object"),
        ("{", "not valid JSON"),
    ],
)
def test_a_bad_config_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="analytics config") as error:
        analytics_config_from_json(text)
    assert message in str(error.value)


def test_the_entry_point_defaults_and_environment_fallbacks() -> None:
    env = {"TELEMETRA_STORE_URL": "postgresql://db/x", "TELEMETRA_CACHE_URL": "redis://cache:6379/0"}
    settings = parse_args(REQUIRED, env=env)
    assert settings.events_topic == "telemetra.alpha.events"
    assert settings.dead_letter_topic == "telemetra.alpha.dead-letter"
    assert (settings.store_url, settings.cache_url) == ("postgresql://db/x", "redis://cache:6379/0")
    assert settings.analytics == AnalyticsConfig()
    assert settings.metrics_port == 9108 and settings.master == "local[2]" and settings.local
    assert settings.max_offsets_per_trigger == 500_000 and settings.trigger_interval_ms == 1000
    pool = parse_args(["--pool", "default", *REQUIRED[2:]], env=env)
    assert pool.max_offsets_per_trigger == 1_000_000  # a pool catches up in larger micro-batches
    assert parse_args([*REQUIRED, "--max-offsets-per-trigger", "0"], env=env).max_offsets_per_trigger is None
    assert settings.records_per_task == 50_000
    explicit = parse_args(
        [
            *REQUIRED,
            "--store-url", "postgresql://other/y", "--events-topic", "raw", "--dead-letter-topic", "dlq",
            "--trigger-interval", "500ms", "--shuffle-partitions", "2", "--max-offsets-per-trigger", "5000",
            "--records-per-task", "0", "--starting-offsets", "latest", "--analytics-config", '{"lateness": 20}',
            "--metrics-port", "0",
            "--master", "k8s://https://kubernetes", "--conf", "spark.executor.memory=2g",
            "--kafka-option", "kafka.security.protocol=SSL",
        ],
        env=env,
    )  # fmt: skip
    assert explicit.store_url == "postgresql://other/y" and explicit.cache_url == "redis://cache:6379/0"
    assert (explicit.events_topic, explicit.dead_letter_topic) == ("raw", "dlq")
    assert (explicit.trigger_interval_ms, explicit.shuffle_partitions) == (500, 2)
    assert (explicit.max_offsets_per_trigger, explicit.starting_offsets) == (5000, "latest")
    assert explicit.records_per_task is None  # 0: one read task per Kafka partition
    assert explicit.analytics.lateness == 20.0 and explicit.metrics_port is None
    assert explicit.kafka_options == {"kafka.security.protocol": "SSL"}
    conf = spark_conf(explicit, jars=[])
    assert conf["spark.executor.memory"] == "2g" and conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.sql.streaming.stateStore.providerClass"] == ROCKSDB
    assert "spark.driver.host" not in conf  # loopback only in local mode


@pytest.mark.parametrize(
    "argv",
    [
        REQUIRED,  # no store URL anywhere
        [*REQUIRED, "--store-url", "x", "--stream-id", "Not-A-Slug"],
        [*REQUIRED, "--store-url", "x", "--analytics-config", '{"window": 0}'],
        [*REQUIRED, "--store-url", "x", "--trigger-interval", "soon"],
        [*REQUIRED, "--store-url", "x", "--records-per-task", "-5"],
        [*REQUIRED, "--store-url", "x", "--dead-letter-topic", "telemetra.alpha.events"],
    ],
)
def test_bad_arguments_exit_with_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv, env={})
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "ms"),
    [("10s", 10_000), ("500ms", 500), ("1.5s", 1500), ("2m", 120_000), ("0", 0), ("10 seconds", 10_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_under_spark_submit_the_master_jars_and_memory_are_spark_submits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")  # what spark-submit gives the Python driver
    settings = parse_args([*REQUIRED, "--store-url", "postgresql://db/x"])
    assert settings.master == "" and not settings.local
    conf = spark_conf(settings)  # would resolve the connector jars if it wanted them
    assert "spark.jars" not in conf and "spark.driver.memory" not in conf
    assert parse_args([*REQUIRED, "--store-url", "x", "--master", "local[1]"]).master == "local[1]"
