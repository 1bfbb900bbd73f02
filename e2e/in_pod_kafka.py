"""Run inside a pod that has aiokafka (``kubectl exec -i … -- python - BOOTSTRAP [TOPIC] < in_pod_kafka.py``):
without TOPIC, print the topic names; with it, print every record of the topic (all partitions, up to the end
offsets at the start) as one line each. The Kafka image has no CLI tools, and the host cannot reach the
brokers' advertised addresses, so the e2e journey reads Kafka from inside the cluster with this."""

import asyncio
import sys

from aiokafka import AIOKafkaConsumer, TopicPartition


async def main(bootstrap: str, topic: str | None) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        if topic is None:
            print("\n".join(sorted(cluster.topics())))
            return
        partitions = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        position = dict.fromkeys(partitions, 0)
        while any(position[p] < end[p] for p in partitions):
            batch = await consumer.getmany(*partitions, timeout_ms=5000, max_records=10_000)
            for partition, records in batch.items():
                for record in records:
                    if record.offset < end[partition] and record.value is not None:
                        sys.stdout.buffer.write(record.value + b"\n")
                    position[partition] = record.offset + 1
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
