"""Server processes for tests: the same helpers the demo and the benchmarks use."""

from patrolwatch.servers import (
    MOSQUITTO_HOWTO,
    ServerProcess,
    amqtt_server,
    free_port,
    mosquitto_binary,
    mosquitto_server,
    port_open,
    redis_binary,
    redis_server,
    tempdir,
    wait_until,
)

__all__ = [
    "MOSQUITTO_HOWTO",
    "ServerProcess",
    "amqtt_server",
    "free_port",
    "mosquitto_binary",
    "mosquitto_server",
    "port_open",
    "redis_binary",
    "redis_server",
    "tempdir",
    "wait_until",
]
