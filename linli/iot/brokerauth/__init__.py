"""Device logins and topic rights for brokers that ask over HTTP (`LINLI_MQTT_AUTH_BACKEND=http`): EMQX 5's
HTTP authentication and authorization, and VerneMQ's webhooks (MQTT 3.1.1 and 5 hooks).

`service` decides (who may connect, publish, subscribe; device logins looked up as the worker role and
cached a few seconds), `schemas` holds what each broker sends and expects back, `api` the broker-only
router that speaks their formats. Only the broker may call it: `permissions.BrokerOnly`."""
